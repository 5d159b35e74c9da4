"""What nodes reach through ``ctx.services``: folders, the model manager and runtime options.

Built once by ``main.py`` and passed down; nothing here is global.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from models.folders import FolderPaths


@dataclass
class Services:
    paths: FolderPaths
    force_cpu: bool = False
    vram_budget_gb: float | None = None
    preview_method: str = "latent2rgb"  # none | latent2rgb
    preview_max_side: int = 512

    @cached_property
    def models(self) -> Any:
        """The model manager; created (and torch imported) on first use, off the start-up path."""
        from models.manager import ModelManager

        return ModelManager(force_cpu=self.force_cpu, vram_budget_gb=self.vram_budget_gb)
