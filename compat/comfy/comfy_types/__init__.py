"""ComfyUI's ``comfy.comfy_types``."""
from comfy.comfy_types.node_typing import IO, CheckLazyMixin, ComfyNodeABC, FileLocator, InputTypeDict, InputTypeOptions

__all__ = ["IO", "CheckLazyMixin", "ComfyNodeABC", "FileLocator", "InputTypeDict", "InputTypeOptions"]
