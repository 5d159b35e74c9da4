"""Binary websocket frames: preview images (types 1 and 4) and node text (type 3).

Every frame starts with a big-endian uint32 event type.

- type 1: ``uint32 format`` (1 JPEG, 2 PNG), then the image bytes; clients read ``frame[8:]``.
- type 4: ``uint32 metadata length``, the JSON metadata (``node_id``, ``display_node_id``,
  ``parent_node_id``, ``real_node_id``, ``prompt_id``, ``image_type``), then the image bytes. Sent
  only to clients that announced ``supports_preview_metadata`` in their ``feature_flags``.
- type 3: ``uint32 node-id length``, the node id, then UTF-8 text.

PIL is imported on first use only, never on the start-up path.
"""
from __future__ import annotations

import io
import json
import struct
from typing import Any

PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
FORMAT_JPEG = 1
FORMAT_PNG = 2


def encode_preview(image: Any, max_side: int = 512, quality: int = 85) -> bytes | None:
    """JPEG bytes of a preview (a PIL image or an HxWx3 uint8 array), its longest side capped."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        try:
            import numpy as np

            array = np.asarray(image)
            if array.dtype != np.uint8:
                array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
            image = Image.fromarray(array)
        except Exception:  # noqa: BLE001 - an unusable preview is skipped, never fatal
            return None
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    if image.mode != "RGB":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def preview_frame(jpeg: bytes) -> bytes:
    return struct.pack(">II", PREVIEW_IMAGE, FORMAT_JPEG) + jpeg


def png_frame(png: bytes) -> bytes:
    return struct.pack(">II", PREVIEW_IMAGE, FORMAT_PNG) + png


def preview_metadata_frame(jpeg: bytes, *, node_id: str, prompt_id: str, display_node_id: str | None = None,
                           parent_node_id: str | None = None, real_node_id: str | None = None,
                           image_type: str = "image/jpeg") -> bytes:
    metadata = json.dumps({"node_id": node_id, "display_node_id": display_node_id or node_id,
                           "parent_node_id": parent_node_id, "real_node_id": real_node_id or node_id,
                           "prompt_id": prompt_id, "image_type": image_type}).encode()
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(metadata)) + metadata + jpeg


def text_frame(node_id: str, text: str) -> bytes:
    node = node_id.encode()
    return struct.pack(">II", TEXT, len(node)) + node + text.encode("utf-8")


def parse_frame(frame: bytes) -> tuple[int, dict]:
    """Decode a frame (for tests and clients): ``(type, fields)``."""
    (kind,) = struct.unpack(">I", frame[:4])
    if kind == PREVIEW_IMAGE:
        (fmt,) = struct.unpack(">I", frame[4:8])
        return kind, {"format": fmt, "image": frame[8:]}
    if kind == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack(">I", frame[4:8])
        return kind, {"metadata": json.loads(frame[8:8 + length]), "image": frame[8 + length:]}
    if kind == TEXT:
        (length,) = struct.unpack(">I", frame[4:8])
        return kind, {"node": frame[8:8 + length].decode(), "text": frame[8 + length:].decode("utf-8")}
    return kind, {"payload": frame[4:]}
