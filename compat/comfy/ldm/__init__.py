"""ComfyUI's ``comfy.ldm`` (model code): import only; see ``compat/_unavailable.py``."""
from _unavailable import placeholder_getattr

__getattr__ = placeholder_getattr(__name__, "ComfyUI's model code")
