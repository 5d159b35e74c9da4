"""ResizeImageMaskNode (one resize node for images and masks, its mode a DynamicCombo) and
ResizeAndPadImage (fit inside a box, pad the rest)."""
from __future__ import annotations

import math
from typing import Any

from execution.declare import Combo, DynamicCombo, Float, In, Int, Out, node

from nodes.image.tensor_ops import UPSCALE_METHODS as SCALE_METHODS

MAX_SIDE = 8192


def _side(name: str) -> Any:
    return Int(name, 512, min=0, max=MAX_SIDE)


def _crop() -> Any:
    return Combo("crop", ["disabled", "center"], default="center")


RESIZE_TYPES = {
    "scale by multiplier": [Float("multiplier", 1.0, min=0.01, max=8.0, step=0.01)],
    "scale dimensions": [_side("width"), _side("height"), _crop()],
    "scale longer dimension": [_side("longer_size")],
    "scale shorter dimension": [_side("shorter_size")],
    "scale width": [_side("width")],
    "scale height": [_side("height")],
    "scale total pixels": [Float("megapixels", 1.0, min=0.01, max=16.0, step=0.01)],
    "match size": [In("match", "IMAGE,MASK"), _crop()],
}


def target_size(width: int, height: int, resize: dict) -> tuple[int, int, str]:
    """(new width, new height, crop mode) for an input of ``width`` x ``height``; sides are rounded
    and at least 1; a 0 in "scale dimensions" keeps that side's aspect ratio (both 0: unchanged)."""
    kind = resize["resize_type"]

    def scaled(factor: float) -> tuple[int, int, str]:
        return max(1, round(width * factor)), max(1, round(height * factor)), "disabled"

    if kind == "scale by multiplier":
        return scaled(resize["multiplier"])
    if kind == "scale dimensions":
        new_width, new_height = resize["width"], resize["height"]
        if new_width == 0 and new_height == 0:
            return width, height, "disabled"
        new_width = new_width or max(1, round(width * new_height / height))
        new_height = new_height or max(1, round(height * new_width / width))
        return new_width, new_height, resize["crop"]
    if kind == "scale longer dimension":
        return scaled(resize["longer_size"] / max(width, height))
    if kind == "scale shorter dimension":
        return scaled(resize["shorter_size"] / min(width, height))
    if kind == "scale width":
        return scaled(resize["width"] / width)
    if kind == "scale height":
        return scaled(resize["height"] / height)
    if kind == "scale total pixels":
        return scaled(math.sqrt(resize["megapixels"] * 1024 * 1024 / (width * height)))
    match = resize["match"]
    return int(match.shape[2]), int(match.shape[1]), resize["crop"]


@node("ResizeImageMaskNode", category="image/transform", display_name="Resize Image/Mask",
      inputs=[In("input", "IMAGE,MASK"),
              DynamicCombo("resize_type", RESIZE_TYPES, default="scale dimensions",
                           tooltip="Select how to resize: by exact dimensions, scale factor, matching another image, etc."),
              Combo("scale_method", SCALE_METHODS, default="area",
                    tooltip="Interpolation algorithm. 'area' is best for downscaling, 'lanczos' for upscaling, "
                            "'nearest-exact' for pixel art.")],
      outputs=[Out("IMAGE,MASK", "resized")])
def resize_image_mask(input, resize_type: dict, scale_method: str):
    """Resize an image or mask using various scaling methods."""
    from nodes.image.tensor_ops import resize_channels_first

    is_mask = input.dim() == 3
    height, width = int(input.shape[1]), int(input.shape[2])
    new_width, new_height, crop = target_size(width, height, resize_type)
    if (new_width, new_height) == (width, height):
        return (input,)
    channels_first = input.unsqueeze(1) if is_mask else input.movedim(-1, 1)
    resized = resize_channels_first(channels_first, new_width, new_height, scale_method, crop)
    resized = resized.squeeze(1) if is_mask else resized.movedim(1, -1)
    return (resized.clamp(0.0, 1.0),)


PAD_VALUES = {"white": 1.0, "black": 0.0}


@node("ResizeAndPadImage", category="image/transform", display_name="Resize And Pad Image",
      inputs=[In("image", "IMAGE"), Int("target_width", 512, min=1, max=16384),
              Int("target_height", 512, min=1, max=16384), Combo("padding_color", list(PAD_VALUES)),
              Combo("interpolation", ["area", "bicubic", "nearest-exact", "bilinear", "lanczos"])],
      outputs=[Out("IMAGE")])
def resize_and_pad_image(image, target_width: int, target_height: int, padding_color: str, interpolation: str):
    """Scale to fit inside target_width x target_height (aspect kept), then pad, centred, to exactly that size."""
    import torch

    from nodes.image.tensor_ops import resize_image

    batch, height, width, channels = image.shape
    scale = min(target_width / width, target_height / height)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    if (new_width, new_height) != (width, height):
        image = resize_image(image, new_width, new_height, interpolation)
    canvas = torch.full((batch, target_height, target_width, channels), PAD_VALUES[padding_color],
                        dtype=image.dtype, device=image.device)
    top, left = (target_height - new_height) // 2, (target_width - new_width) // 2
    canvas[:, top:top + new_height, left:left + new_width, :] = image
    return (canvas,)

