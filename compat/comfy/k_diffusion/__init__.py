"""ComfyUI's ``comfy.k_diffusion``: see ``sampling``; other submodules are import only."""
from _unavailable import placeholder_getattr

__getattr__ = placeholder_getattr(__name__, "k-diffusion internals")
