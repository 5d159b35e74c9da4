"""ComfyUI's ``comfy.comfy_types``."""
from comfy.comfy_types.node_typing import (CheckLazyMixin, ComfyNodeABC, FileLocator, InputTypeDict,  # noqa: F401
                                           InputTypeOptions, IO)

__all__ = ["IO", "ComfyNodeABC", "InputTypeDict", "InputTypeOptions", "CheckLazyMixin", "FileLocator"]
