"""Compositing nodes: pad an image for outpainting, paste one image onto another through a mask."""
from __future__ import annotations

from execution.declare import Boolean, In, Int, Out, node

MAX_RESOLUTION = 16384


def _feather_mask(height: int, width: int, sides: dict[str, int], feathering: int):
    """0 over the original image, ramping up as ((f - d) / f)² within f pixels of each padded side."""
    import torch

    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
    far = torch.full((height, width), float(max(height, width)))
    distance = torch.stack([rows if sides["top"] else far, (height - rows) if sides["bottom"] else far,
                            cols if sides["left"] else far, (width - cols) if sides["right"] else far]).amin(0)
    ramp = ((feathering - distance) / feathering).clamp(min=0.0)
    return ramp * ramp


@node("ImagePadForOutpaint", category="image",
      inputs=[In("image", "IMAGE"), Int("left", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("top", 0, min=0, max=MAX_RESOLUTION, step=8), Int("right", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("bottom", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("feathering", 40, min=0, max=MAX_RESOLUTION, step=1)],
      outputs=[Out("IMAGE"), Out("MASK")])
def image_pad_for_outpaint(image, left: int, top: int, right: int, bottom: int, feathering: int):
    """Pad with mid-grey; the mask is 1 on the padding (and feathered into the image's padded edges)."""
    import torch

    batch, height, width, channels = image.shape
    padded = torch.full((batch, height + top + bottom, width + left + right, channels), 0.5, dtype=image.dtype)
    padded[:, top:top + height, left:left + width] = image
    mask = torch.ones(height + top + bottom, width + left + right, dtype=torch.float32)
    inner = torch.zeros(height, width)
    if feathering > 0 and feathering * 2 < height and feathering * 2 < width:
        inner = _feather_mask(height, width, {"top": top, "bottom": bottom, "left": left, "right": right}, feathering)
    mask[top:top + height, left:left + width] = inner
    return padded, mask[None]


@node("ImageCompositeMasked", category="image",
      inputs=[In("destination", "IMAGE"), In("source", "IMAGE"), Int("x", 0, min=0, max=MAX_RESOLUTION),
              Int("y", 0, min=0, max=MAX_RESOLUTION), Boolean("resize_source", False),
              In("mask", "MASK", optional=True)],
      outputs=[Out("IMAGE")])
def image_composite_masked(destination, source, x: int, y: int, resize_source: bool, mask=None):
    """Paste ``source`` at (x, y) onto ``destination`` through ``mask`` (resized to the source),
    clipped to the destination; resize_source first stretches the source to the destination."""
    import torch.nn.functional as F

    result = destination.clone().movedim(-1, 1)
    pasted = source.movedim(-1, 1).to(result.dtype)
    if resize_source:
        pasted = F.interpolate(pasted, size=result.shape[2:], mode="bilinear")
    pasted = _to_batch(pasted, result.shape[0])[:, :result.shape[1]]
    if mask is None:
        weight = result.new_ones(result.shape[0], 1, *pasted.shape[2:])
    else:
        weight = F.interpolate(mask.reshape(-1, 1, *mask.shape[-2:]).float(), size=pasted.shape[2:], mode="bilinear")
        weight = _to_batch(weight, result.shape[0])
    x, y = min(x, result.shape[3]), min(y, result.shape[2])
    visible_h, visible_w = min(result.shape[2] - y, pasted.shape[2]), min(result.shape[3] - x, pasted.shape[3])
    region = result[:, :, y:y + visible_h, x:x + visible_w]
    weight = weight[:, :, :visible_h, :visible_w]
    result[:, :, y:y + visible_h, x:x + visible_w] = weight * pasted[:, :, :visible_h, :visible_w] + \
        (1 - weight) * region
    return (result.movedim(1, -1),)


def _to_batch(tensor, batch: int):
    if tensor.shape[0] == batch:
        return tensor
    repeats = -(-batch // tensor.shape[0])
    return tensor.repeat(repeats, *([1] * (tensor.dim() - 1)))[:batch]
