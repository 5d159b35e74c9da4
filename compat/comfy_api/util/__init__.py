"""ComfyUI's ``comfy_api.util``: the video description types (``VideoComponents`` is Plexus's own)."""
from __future__ import annotations

from enum import Enum

from models.video.container import VideoComponents


class VideoContainer(str, Enum):
    AUTO = "auto"
    MP4 = "mp4"


class VideoCodec(str, Enum):
    AUTO = "auto"
    H264 = "h264"


__all__ = ["VideoContainer", "VideoCodec", "VideoComponents"]
