"""Picking images out of a batch."""
from __future__ import annotations

from execution.declare import In, Int, Out, node


@node("ImageFromBatch", category="image/batch",
      inputs=[In("image", "IMAGE"), Int("batch_index", 0, min=0, max=4095), Int("length", 1, min=1, max=4096)],
      outputs=[Out("IMAGE")])
def image_from_batch(image, batch_index: int, length: int):
    """``length`` images from ``batch_index`` on (the index is clamped to the last image)."""
    start = min(batch_index, image.shape[0] - 1)
    return (image[start:start + min(length, image.shape[0] - start)].clone(),)
