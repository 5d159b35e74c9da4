"""Point 6: SaveImage and PreviewImage make 8-bit pixels as ComfyUI does, ``uint8(clip(255*x))``
(truncation: 0.25 -> 63, 0.999 -> 254), so files are byte-identical for the same tensor."""
from __future__ import annotations

import io

import pytest

EXPECTED = [63, 254, 127, 255, 0, 255, 0, 178]  # 0.25 0.999 0.5 1.0 0.0019 1.5 -0.2 0.7


@pytest.mark.parametrize("saver", ["SaveImage", "PreviewImage"])
def test_saved_pixels_are_truncated(conformance, saver):
    from PIL import Image

    inputs = {"images": ["1", 0]} if saver == "PreviewImage" else {"images": ["1", 0], "filename_prefix": "conf"}
    outcome = conformance.run({"1": {"class_type": "ConfPixels", "inputs": {}},
                               "2": {"class_type": saver, "inputs": inputs}})
    assert outcome.status == "success", outcome.error
    image = Image.open(io.BytesIO(conformance.file_bytes(outcome.outputs["2"]["images"][0])))
    assert [image.getpixel((x, 0))[0] for x in range(8)] == EXPECTED
