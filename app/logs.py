"""Console logging for the command line: everything on stderr (stdout is for results), debug with
``--verbose``, and without transformers' torchvision notice (Plexus never needs torchvision)."""
from __future__ import annotations

import logging
import sys

# transformers logs this once per processor name when diffusers imports e.g. CLIPImageProcessor
# without torchvision; the PIL processors it falls back to are the ones Plexus uses on purpose.
TORCHVISION_NOTICE = "requires torchvision (not installed); falling back to"
TRANSFORMERS_IMPORT_LOGGER = "transformers.utils.import_utils"


class _DropTorchvisionNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return TORCHVISION_NOTICE not in str(record.msg)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    # A filter on the logger that emits the record; creating the logger imports nothing.
    logger = logging.getLogger(TRANSFORMERS_IMPORT_LOGGER)
    if not any(isinstance(f, _DropTorchvisionNotice) for f in logger.filters):
        logger.addFilter(_DropTorchvisionNotice())
