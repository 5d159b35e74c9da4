"""ComfyUI's ``comfy.ldm.modules``: import only; see ``compat/_unavailable.py``."""
from _unavailable import placeholder_getattr

__getattr__ = placeholder_getattr(__name__, "ComfyUI's model code")
