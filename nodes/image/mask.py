"""Mask nodes (ComfyUI's names, inputs and outputs). MASK tensors are [B, H, W] in 0..1; IMAGE
tensors are [B, H, W, C]."""
from __future__ import annotations

from execution.declare import Boolean, Combo, Float, Hidden, In, Int, Out, node

CHANNELS = ("red", "green", "blue", "alpha")
MASK_OPERATIONS = ("multiply", "add", "subtract", "and", "or", "xor")

MAX_RESOLUTION = 16384


@node("SolidMask", category="mask",
      inputs=[Float("value", 1.0, min=0.0, max=1.0, step=0.01), Int("width", 512, min=1, max=MAX_RESOLUTION),
              Int("height", 512, min=1, max=MAX_RESOLUTION)],
      outputs=[Out("MASK")], memory=lambda width, height: 4 * width * height)
def solid_mask(value: float, width: int, height: int):
    """A mask filled with one value."""
    import torch

    return (torch.full((1, height, width), float(value)),)


@node("InvertMask", category="mask", inputs=[In("mask", "MASK")], outputs=[Out("MASK")])
def invert_mask(mask):
    """1 - mask."""
    return (1.0 - mask,)


def _batched(mask):
    return mask.reshape(-1, mask.shape[-2], mask.shape[-1])


@node("MaskToImage", category="mask", display_name="Convert Mask to Image", inputs=[In("mask", "MASK")],
      outputs=[Out("IMAGE")])
def mask_to_image(mask):
    """The mask as a grey RGB image."""
    return (_batched(mask)[..., None].expand(-1, -1, -1, 3).clone(),)


@node("ImageToMask", category="mask", display_name="Convert Image to Mask",
      inputs=[In("image", "IMAGE"), Combo("channel", CHANNELS)], outputs=[Out("MASK")])
def image_to_mask(image, channel: str):
    """One channel of the image as a mask."""
    index = CHANNELS.index(channel)
    if index >= image.shape[-1]:
        raise ValueError(f"the image has {image.shape[-1]} channels; it has no {channel} channel")
    return (image[..., index].clone(),)


@node("ImageColorToMask", category="mask",
      inputs=[In("image", "IMAGE"), Int("color", 0, min=0, max=0xFFFFFF, display="color")], outputs=[Out("MASK")])
def image_color_to_mask(image, color: int):
    """1 where the pixel's 8-bit RGB equals ``color`` (0xRRGGBB), else 0."""
    import torch

    rgb = (image[..., :3].clamp(0, 1) * 255).round().to(torch.int64)
    packed = (rgb[..., 0] << 16) + (rgb[..., 1] << 8) + rgb[..., 2]
    return ((packed == int(color)).float(),)


@node("ThresholdMask", category="mask",
      inputs=[In("mask", "MASK"), Float("value", 0.5, min=0.0, max=1.0, step=0.01)], outputs=[Out("MASK")])
def threshold_mask(mask, value: float):
    """1 where the mask is above ``value``, else 0."""
    return ((mask > value).float(),)


@node("CropMask", category="mask",
      inputs=[In("mask", "MASK"), Int("x", 0, min=0, max=MAX_RESOLUTION), Int("y", 0, min=0, max=MAX_RESOLUTION),
              Int("width", 512, min=1, max=MAX_RESOLUTION), Int("height", 512, min=1, max=MAX_RESOLUTION)],
      outputs=[Out("MASK")])
def crop_mask(mask, x: int, y: int, width: int, height: int):
    """The ``width`` x ``height`` region at (x, y), cut at the mask's edges."""
    return (_batched(mask)[:, y:y + height, x:x + width].clone(),)


@node("MaskComposite", category="mask",
      inputs=[In("destination", "MASK"), In("source", "MASK"), Int("x", 0, min=0, max=MAX_RESOLUTION),
              Int("y", 0, min=0, max=MAX_RESOLUTION), Combo("operation", MASK_OPERATIONS)],
      outputs=[Out("MASK")])
def mask_composite(destination, source, x: int, y: int, operation: str):
    """Combine ``source`` into ``destination`` at (x, y); and/or/xor act on the rounded masks.
    The result is clamped to 0..1."""
    import torch

    output = _batched(destination).clone()
    source = _batched(source).to(output.dtype)
    height, width = output.shape[-2:]
    bottom, right = min(y + source.shape[-2], height), min(x + source.shape[-1], width)
    if bottom <= y or right <= x:
        return (output,)
    region = output[:, y:bottom, x:right]
    piece = source[:, :bottom - y, :right - x]
    if operation == "multiply":
        combined = region * piece
    elif operation == "add":
        combined = region + piece
    elif operation == "subtract":
        combined = region - piece
    else:
        logic = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}[operation]
        combined = logic(region.round().bool(), piece.round().bool()).to(output.dtype)
    output[:, y:bottom, x:right] = combined
    return (output.clamp(0.0, 1.0),)


def _grow_once(masks, grow: bool, tapered: bool):
    import torch
    import torch.nn.functional as F

    padded = F.pad(masks[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    height, width = masks.shape[-2:]
    offsets = [(1, 1), (0, 1), (2, 1), (1, 0), (1, 2)]  # centre and its four neighbours
    if not tapered:
        offsets = [(dy, dx) for dy in range(3) for dx in range(3)]
    windows = torch.stack([padded[:, dy:dy + height, dx:dx + width] for dy, dx in offsets])
    return windows.amax(0) if grow else windows.amin(0)


@node("GrowMask", category="mask",
      inputs=[In("mask", "MASK"), Int("expand", 0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION),
              Boolean("tapered_corners", True)],
      outputs=[Out("MASK")])
def grow_mask(mask, expand: int, tapered_corners: bool):
    """Grow (expand > 0) or shrink (< 0) by one pixel per step: a grey dilation or erosion with a
    3x3 window, or the plus-shaped window with tapered corners."""
    masks = _batched(mask).float()
    for _ in range(abs(int(expand))):
        masks = _grow_once(masks, expand > 0, tapered_corners)
    return (masks,)


@node("FeatherMask", category="mask",
      inputs=[In("mask", "MASK"), Int("left", 0, min=0, max=MAX_RESOLUTION), Int("top", 0, min=0, max=MAX_RESOLUTION),
              Int("right", 0, min=0, max=MAX_RESOLUTION), Int("bottom", 0, min=0, max=MAX_RESOLUTION)],
      outputs=[Out("MASK")])
def feather_mask(mask, left: int, top: int, right: int, bottom: int):
    """Fade the mask linearly towards each edge: the n-th pixel (from 1) of a band of width w is
    scaled by n / w."""
    import torch

    output = _batched(mask).clone().float()
    height, width = output.shape[-2:]

    def ramp(band: int, size: int):
        band = min(band, size)
        scale = torch.ones(size)
        if band > 0:
            scale[:band] = torch.arange(1, band + 1, dtype=torch.float32) / band
        return scale

    columns = ramp(left, width) * ramp(right, width).flip(0)
    rows = ramp(top, height) * ramp(bottom, height).flip(0)
    return (output * rows[:, None] * columns[None, :],)


@node("MaskPreview", category="mask", display_name="Preview Mask", output_node=True,
      inputs=[In("mask", "MASK"), Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")],
      outputs=[])
def mask_preview(ctx, mask, prompt=None, extra_pnginfo=None):
    """Show the mask as a grey image (written to the temp folder)."""
    from nodes.image.images import preview_image

    return preview_image(ctx, mask_to_image(mask)[0], prompt, extra_pnginfo)


@node("JoinImageWithAlpha", category="mask/compositing", display_name="Join Image with Alpha",
      inputs=[In("image", "IMAGE"), In("alpha", "MASK")], outputs=[Out("IMAGE")])
def join_image_with_alpha(image, alpha):
    """RGBA images whose alpha is 1 - mask (the mask resized to the image)."""
    import torch
    import torch.nn.functional as F

    alpha = _batched(alpha)
    alpha = F.interpolate(alpha[:, None].float(), size=image.shape[1:3], mode="bilinear")[:, 0]
    batch = max(image.shape[0], alpha.shape[0])
    rgb = image[..., :3].expand(batch, -1, -1, -1) if image.shape[0] == 1 else image[..., :3]
    alpha = alpha.expand(batch, -1, -1) if alpha.shape[0] == 1 else alpha
    return (torch.cat([rgb, (1.0 - alpha)[..., None]], dim=-1),)
