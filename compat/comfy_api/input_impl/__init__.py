"""ComfyUI's ``comfy_api.input_impl``: the video values, backed by Plexus's PyAV video
(``models/video/container.py``, the same objects LoadVideo and CreateVideo produce)."""
from __future__ import annotations

from models.video.container import VideoFromComponents, VideoFromFile

__all__ = ["VideoFromFile", "VideoFromComponents"]
