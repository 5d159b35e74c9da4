"""What nodes reach through ``ctx.services``: folders, the model manager and runtime options.

Built once by ``main.py`` and passed down; nothing here is global.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from models.folders import FolderPaths

DEFAULT_MAX_IMAGE_PIXELS = 100_000_000  # e.g. 10000 x 10000, or 100 frames of 1000 x 1000
FREE_MEMORY_FRACTION = 0.5
# A result this small is not checked against the default budget (half the free memory): reading it
# (psutil reads /proc/meminfo, ~50 us) would cost more than the allocation, once per prompt of small
# images. An explicit max_tensor_gb is always checked.
ALWAYS_AFFORDABLE_BYTES = 16 << 20


@dataclass
class Services:
    paths: FolderPaths
    force_cpu: bool = False
    vram_budget_gb: float | None = None
    preview_method: str = "latent2rgb"  # none | latent2rgb
    preview_max_side: int = 512
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS  # frames x width x height a decode may reach
    max_tensor_gb: float | None = None  # what one node may allocate; None: a fraction of free memory
    png_compress_level: int | None = None  # SaveImage/PreviewImage zlib level; None: ComfyUI's 4 and 1
    output_journal: Any = None  # a server's OutputJournal: its save nodes note their files (models.output_journal)

    def always_affordable(self, needed: int) -> bool:
        """Whether a result of ``needed`` bytes passes without reading the budget (``ALWAYS_AFFORDABLE_BYTES``)."""
        return needed <= ALWAYS_AFFORDABLE_BYTES and self.max_tensor_gb is None

    def tensor_budget_bytes(self) -> int:
        """What one node's result may take: ``max_tensor_gb``, or by default half the memory free
        now (RAM; and accelerator memory once torch is loaded and uses one)."""
        if self.max_tensor_gb is not None:
            return int(self.max_tensor_gb * (1 << 30))
        import psutil

        budget = int(psutil.virtual_memory().available * FREE_MEMORY_FRACTION)
        torch = sys.modules.get("torch")
        if torch is not None and not self.force_cpu:
            try:
                if torch.cuda.is_available():
                    free, _ = torch.cuda.mem_get_info()
                    budget = min(budget, int(free * FREE_MEMORY_FRACTION))
            except Exception:  # noqa: BLE001 - no accelerator information: RAM only
                pass
        return budget

    @cached_property
    def models(self) -> Any:
        """The model manager; created (and torch imported) on first use, off the start-up path."""
        from models.manager import ModelManager

        return ModelManager(force_cpu=self.force_cpu, vram_budget_gb=self.vram_budget_gb)
