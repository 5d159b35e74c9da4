"""ComfyUI's ``comfy_extras.nodes_upscale_model``: ``UpscaleModelLoader`` and
``ImageUpscaleWithModel`` are looked up among the registered nodes when used; Plexus ships no
upscale-model nodes, so without a pack providing them they raise :class:`NotAvailableInPlexus`."""
from __future__ import annotations

from typing import Any

import _comfy_nodes

NODE_NAMES = ("UpscaleModelLoader", "ImageUpscaleWithModel")


def __getattr__(name: str) -> Any:
    if name in NODE_NAMES:
        return _comfy_nodes.deferred_node_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
