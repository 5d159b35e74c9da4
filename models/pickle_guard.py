"""Nothing is ever unpickled: pickle-based weight files are refused before anything opens them.

Loading a pickle runs whatever code the file carries. Single files are checked by their suffix
(``models.sd3.files.refuse_unsafe``); model *folders* (diffusers / transformers layouts) are
checked here before ``from_pretrained`` sees them: a folder whose weights are only pickles
(``pytorch_model.bin``, ``diffusion_pytorch_model.bin``, ``*.pt``...) is refused with a clear
message, and ``from_pretrained`` is always told ``use_safetensors=True``, so a pickle lying next
to safetensors weights is never read either.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


class PickleRefused(ValueError):
    """A model whose weights exist only in a pickle-based format."""


def require_safetensors_folder(folder: Path) -> None:
    """Raise PickleRefused if ``folder`` holds pickle weights and no safetensors weights."""
    folder = Path(folder)
    try:
        names = [entry.name.lower() for entry in os.scandir(folder) if entry.is_file()]
    except OSError:
        return  # not a folder we can read: from_pretrained reports it
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES) and "training_args" not in n)
    if pickles and not any(n.endswith(SAFETENSORS_SUFFIXES) for n in names):
        raise PickleRefused(
            f"{folder.name}: refusing to load pickle-based weights ({', '.join(pickles[:3])}). Loading pickles "
            f"can run arbitrary code hidden in the file, so Plexus reads weights from .safetensors only. "
            f"Download the safetensors version of this model, or convert it in a sandbox you trust.")


def from_pretrained_safely(model_class: Any, folder: Path | str, **kwargs: Any) -> Any:
    """``model_class.from_pretrained(folder, use_safetensors=True, ...)`` after the pickle check."""
    require_safetensors_folder(Path(folder))
    return model_class.from_pretrained(str(folder), use_safetensors=True, **kwargs)
