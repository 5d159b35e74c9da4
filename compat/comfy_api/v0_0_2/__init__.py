"""ComfyUI's ``comfy_api.v0_0_2``: the same classes as ``latest`` (ComfyUI's own test pack imports it)."""
from comfy_api.latest import (IO, ComfyAPI, ComfyAPISync, ComfyExtension, Input, InputImpl, Types, comfy_io,  # noqa: F401
                              io, ui)

__all__ = ["ComfyExtension", "io", "IO", "comfy_io", "ui", "ComfyAPI", "ComfyAPISync", "Input", "InputImpl", "Types"]
