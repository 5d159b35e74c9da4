"""ComfyUI's ``comfy_api.latest``: ``ComfyExtension``, ``io`` (also ``IO``/``comfy_io``), ``ui``,
and ``ComfyAPI``/``ComfyAPISync`` (progress). V3 nodes run through ``execution.plugins.comfy_v3``."""
from __future__ import annotations

import sys
from typing import Any

from comfy_api.latest import _io as io
from comfy_api.latest import _ui as ui
from execution.context import current_node

IO = comfy_io = io
sys.modules.setdefault(f"{__name__}.io", io)  # `from comfy_api.latest.io import ...` works too
sys.modules.setdefault(f"{__name__}.ui", ui)


class ComfyExtension:
    """A pack's V3 entry: ``comfy_entrypoint()`` returns one; Plexus awaits ``on_load`` then ``get_node_list``."""

    async def on_load(self) -> None:
        return None

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return []


def _set_progress(value: float, max_value: float, node_id: str | None = None, preview_image: Any = None,
                  ignore_size_limit: bool = False) -> None:
    ctx = current_node.get()
    if ctx is None:
        raise RuntimeError("set_progress is only available while a node executes")
    if node_id is not None and str(node_id) != ctx.display_node_id:
        raise RuntimeError("set_progress for another node than the executing one is not supported")
    preview = preview_image
    if preview is not None and not hasattr(preview, "save"):  # an IMAGE tensor: its first image
        from nodes.image.tensor_ops import tensor_to_pil

        preview = tensor_to_pil(preview[0] if preview.ndim == 4 else preview)
    ctx.progress(int(value), int(max_value), preview=preview)


class _AsyncExecution:
    async def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                           preview_image: Any = None, ignore_size_limit: bool = False) -> None:
        _set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class _SyncExecution:
    def set_progress(self, value: float, max_value: float, node_id: str | None = None,
                     preview_image: Any = None, ignore_size_limit: bool = False) -> None:
        _set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class ComfyAPI:
    def __init__(self) -> None:
        self.execution = _AsyncExecution()


class ComfyAPISync:
    def __init__(self) -> None:
        self.execution = _SyncExecution()


class Input:
    """Type aliases packs annotate with (``Input.Image`` ...): plain objects here."""

    Image = Any
    Mask = Any
    Latent = Any
    Audio = Any
    Video = Any


InputImpl = Types = Input

__all__ = ["ComfyExtension", "io", "IO", "comfy_io", "ui", "ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types"]
