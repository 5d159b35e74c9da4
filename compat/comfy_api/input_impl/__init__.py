"""ComfyUI's ``comfy_api.input_impl``: video readers. Plexus has no video support; using one raises."""
from __future__ import annotations

from typing import Any

from comfy_api.input import VideoInput


class _Unsupported(VideoInput):
    def __init__(self, *_args: Any, **_kwargs: Any):
        raise NotImplementedError(f"comfy_api.input_impl.{type(self).__name__}: Plexus has no video support")


class VideoFromFile(_Unsupported):
    pass


class VideoFromComponents(_Unsupported):
    pass


__all__ = ["VideoFromFile", "VideoFromComponents"]
