"""Picking images out of a batch."""
from __future__ import annotations

from execution.declare import Autogrow, In, Int, Out, node



@node("ImageFromBatch", category="image/batch",
      inputs=[In("image", "IMAGE"), Int("batch_index", 0, min=0, max=4095), Int("length", 1, min=1, max=4096)],
      outputs=[Out("IMAGE")])
def image_from_batch(image, batch_index: int, length: int):
    """``length`` images from ``batch_index`` on (the index is clamped to the last image)."""
    start = min(batch_index, image.shape[0] - 1)
    return (image[start:start + min(length, image.shape[0] - start)].clone(),)


@node("BatchImagesNode", category="image", display_name="Batch Images",
      inputs=[Autogrow("images", In("image", "IMAGE"), prefix="image", min=1, max=50)],
      outputs=[Out("IMAGE")])
def batch_images(images: dict):
    """One batch of every connected image, in socket order; each is resized (bilinear, centre crop)
    to the first one's size, and its channels cut or given an alpha of 1 to match."""
    import torch

    from nodes.image.tensor_ops import resize_image

    batches = list(images.values())
    first = batches[0]
    height, width, channels = first.shape[1], first.shape[2], first.shape[3]
    joined = [first]
    for batch in batches[1:]:
        if batch.shape[1:3] != first.shape[1:3]:
            batch = resize_image(batch, width, height, "bilinear", "center")
        if batch.shape[3] < channels:
            batch = torch.cat([batch, torch.ones(*batch.shape[:3], channels - batch.shape[3], dtype=batch.dtype)], -1)
        joined.append(batch[..., :channels])
    return (torch.cat(joined, dim=0),)
