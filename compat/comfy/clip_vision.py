"""ComfyUI's ``comfy.clip_vision``: ``load(path)`` through Plexus's ``CLIPVisionLoader`` (a file
or folder in a ``clip_vision`` folder); ComfyUI's vision-model classes raise."""
from __future__ import annotations

from typing import Any

import _comfy_nodes
from _unavailable import placeholder_getattr


def load(ckpt_path: str) -> Any:
    name = _comfy_nodes.model_name_for_path("clip_vision", ckpt_path)
    return _comfy_nodes.run_node("CLIPVisionLoader", clip_name=name)[0]


__getattr__ = placeholder_getattr(__name__, "ComfyUI's CLIP vision classes are not Plexus's")
