# A third-party-style V1 pack: lazy inputs, IS_CHANGED variants. Written the way ComfyUI plugin
# authors write packs (relative import of the pack's own module, mappings in __init__).
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
