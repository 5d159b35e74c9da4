"""ImageStitch: two images side by side or one above the other, with an optional coloured gap."""
from __future__ import annotations

from execution.declare import Boolean, Combo, In, Int, Out, node

SPACING_COLORS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "red": (1.0, 0.0, 0.0),
                  "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
DIRECTIONS = ["right", "down", "left", "up"]


def _same_batch_and_channels(first, second):
    """Equal batch sizes (the shorter batch repeats its last image) and channels (an alpha of 1 added)."""
    import torch

    if first.shape[0] != second.shape[0]:
        size = max(first.shape[0], second.shape[0])
        first, second = (torch.cat([t, t[-1:].expand(size - t.shape[0], *t.shape[1:])]) for t in (first, second))
    if first.shape[-1] != second.shape[-1]:
        channels = max(first.shape[-1], second.shape[-1])
        first, second = (torch.cat([t, torch.ones(*t.shape[:-1], channels - t.shape[-1], dtype=t.dtype,
                                                   device=t.device)], dim=-1) for t in (first, second))
    return first, second


def _pad_cross_axis(image, size: int, horizontal: bool, value: float):
    """Pad the side across the stitch (height for left/right) to ``size``, the image centred."""
    import torch.nn.functional as F

    current = image.shape[1] if horizontal else image.shape[2]
    if current == size:
        return image
    before = (size - current) // 2
    after = size - current - before
    pads = (0, 0, 0, 0, before, after) if horizontal else (0, 0, before, after, 0, 0)
    return F.pad(image, pads, value=value)


@node("ImageStitch", category="image/transform", display_name="Stitch Images",
      description="Stitches image2 to image1 in the specified direction.\nIf image2 is not provided, returns image1 "
                  "unchanged.\nOptional spacing can be added between images.",
      inputs=[In("image1", "IMAGE"), Combo("direction", DIRECTIONS, default="right"),
              Boolean("match_image_size", True), Int("spacing_width", 0, min=0, max=1024, step=2),
              Combo("spacing_color", list(SPACING_COLORS), default="white"), In("image2", "IMAGE", optional=True)],
      outputs=[Out("IMAGE")])
def image_stitch(image1, direction: str, match_image_size: bool, spacing_width: int, spacing_color: str,
                 image2=None):
    import torch

    from nodes.image.tensor_ops import resize_image

    if image2 is None:
        return (image1,)
    image1, image2 = _same_batch_and_channels(image1, image2)
    horizontal = direction in ("left", "right")
    if match_image_size:  # image2 takes image1's height (left/right) or width (up/down), aspect kept
        height, width = image2.shape[1], image2.shape[2]
        if horizontal:
            size = (max(1, round(width * image1.shape[1] / height)), image1.shape[1])
        else:
            size = (image1.shape[2], max(1, round(height * image1.shape[2] / width)))
        if size != (width, height):
            image2 = resize_image(image2, size[0], size[1], "bilinear")
    else:  # the smaller one is padded across the stitch; white or black as asked, otherwise black
        pad_value = 1.0 if spacing_color == "white" else 0.0
        axis = 1 if horizontal else 2
        size = max(image1.shape[axis], image2.shape[axis])
        image1, image2 = (_pad_cross_axis(t, size, horizontal, pad_value) for t in (image1, image2))
    parts = [image1, image2] if direction in ("right", "down") else [image2, image1]
    if spacing_width > 0:
        batch, height, width, channels = image1.shape
        shape = (batch, height, spacing_width, channels) if horizontal else (batch, spacing_width, width, channels)
        color = torch.tensor(SPACING_COLORS[spacing_color] + (1.0,) * (channels - 3), dtype=image1.dtype)
        parts.insert(1, color.to(image1.device).expand(shape))
    return (torch.cat(parts, dim=2 if horizontal else 1),)
