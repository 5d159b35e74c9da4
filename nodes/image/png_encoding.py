"""A 16-bit-per-channel PNG encoder (Pillow writes 16 bits for greyscale only): IHDR, one tEXt
chunk per metadata entry, the rows unfiltered in one zlib stream, IEND (PNG spec, ISO 15948)."""
from __future__ import annotations

import struct
import zlib
from typing import Any

COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png16(pixels: Any, text_chunks: dict[str, str], compress_level: int = 4) -> bytes:
    """``pixels``: a uint16 array [H, W, C] with C in 1..4."""
    import numpy as np

    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 16, COLOR_TYPES[channels], 0, 0, 0)
    rows = np.ascontiguousarray(pixels.astype(">u2")).reshape(height, width * channels).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 per row
    text = b"".join(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
                    for key, value in text_chunks.items())
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + text
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + _chunk(b"IEND", b""))
