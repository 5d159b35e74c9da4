"""PNG pieces (PNG spec, ISO 15948): a 16-bit-per-channel encoder (Pillow writes 16 bits for
greyscale only): IHDR, one tEXt chunk per metadata entry, the rows unfiltered in one zlib stream,
IEND; and the metadata chunks encoded once and spliced into Pillow's 8-bit files."""
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


PNG_HEADER_END = 8 + 12 + 13  # the signature, then IHDR (length, type, 13 bytes, CRC) comes first


def text_chunks(chunks: dict[str, str]) -> bytes:
    """The metadata as Pillow's ``PngInfo.add_text`` writes it: tEXt when the text is Latin-1,
    else an uncompressed iTXt (UTF-8). Encoded once per run, spliced into every file."""
    encoded = []
    for key, value in chunks.items():
        name = key.encode("latin-1", "strict")
        try:
            encoded.append(_chunk(b"tEXt", name + b"\0" + value.encode("latin-1", "strict")))
        except UnicodeError:
            encoded.append(_chunk(b"iTXt", name + b"\0\0\0\0\0" + value.encode("utf-8")))
    return b"".join(encoded)


def with_text_chunks(png: bytes, chunks: bytes) -> bytes:
    """``png`` (as Pillow writes it without metadata) with ``chunks`` right after its IHDR."""
    if png[12:16] != b"IHDR":
        raise ValueError("not a PNG that starts with IHDR")
    return png[:PNG_HEADER_END] + chunks + png[PNG_HEADER_END:]
