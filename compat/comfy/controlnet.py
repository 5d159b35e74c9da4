"""ComfyUI's ``comfy.controlnet``: ``load_controlnet(path)`` through Plexus's ``ControlNetLoader``
(SD3 ControlNets in a ``controlnet`` folder); ComfyUI's control classes raise."""
from __future__ import annotations

from typing import Any

import _comfy_nodes
from _unavailable import placeholder_getattr


def load_controlnet(ckpt_path: str, model: Any = None, model_options: dict | None = None) -> Any:
    name = _comfy_nodes.model_name_for_path("controlnet", ckpt_path)
    return _comfy_nodes.run_node("ControlNetLoader", control_net_name=name)[0]


__getattr__ = placeholder_getattr(__name__, "ComfyUI's ControlNet classes are not Plexus's")
