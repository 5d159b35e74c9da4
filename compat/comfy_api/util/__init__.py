"""ComfyUI's ``comfy_api.util``: the video description types (names only; Plexus has no video support)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any


class VideoContainer(str, Enum):
    AUTO = "auto"
    MP4 = "mp4"


class VideoCodec(str, Enum):
    AUTO = "auto"
    H264 = "h264"


@dataclass
class VideoComponents:
    images: Any
    frame_rate: Fraction
    audio: Any = None
    metadata: Any = None


__all__ = ["VideoContainer", "VideoCodec", "VideoComponents"]
