"""Image size nodes: scale by a factor or to a pixel count, and read an image's size."""
from __future__ import annotations

import math

from execution.declare import Combo, Float, Hidden, In, Int, Out, node
from nodes.image.tensor_ops import UPSCALE_METHODS


@node("ImageScaleBy", category="image/upscaling",
      inputs=[In("image", "IMAGE"), Combo("upscale_method", UPSCALE_METHODS),
              Float("scale_by", 1.0, min=0.01, max=8.0, step=0.01)],
      outputs=[Out("IMAGE")])
def image_scale_by(image, upscale_method: str, scale_by: float):
    """Resize images by a factor (sides rounded), without cropping."""
    from nodes.image.tensor_ops import resize_image

    width, height = round(image.shape[2] * scale_by), round(image.shape[1] * scale_by)
    return (resize_image(image, max(1, width), max(1, height), upscale_method),)


@node("ImageScaleToTotalPixels", category="image/upscaling",
      inputs=[In("image", "IMAGE"), Combo("upscale_method", UPSCALE_METHODS),
              Float("megapixels", 1.0, min=0.01, max=16.0, step=0.01),
              Int("resolution_steps", 1, min=1, max=256, optional=True)],
      outputs=[Out("IMAGE")])
def image_scale_to_total_pixels(image, upscale_method: str, megapixels: float, resolution_steps: int = 1):
    """Resize images to about ``megapixels`` x 1024² pixels, keeping the aspect ratio; the sides are
    rounded to multiples of ``resolution_steps``."""
    from nodes.image.tensor_ops import resize_image

    height, width = image.shape[1], image.shape[2]
    scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    step = max(1, int(resolution_steps))
    new_width = max(step, round(width * scale / step) * step)
    new_height = max(step, round(height * scale / step) * step)
    return (resize_image(image, new_width, new_height, upscale_method),)


@node("GetImageSize", category="image", display_name="Get Image Size",
      inputs=[In("image", "IMAGE"), Hidden("unique_id", "UNIQUE_ID")],
      outputs=[Out("INT", "width"), Out("INT", "height"), Out("INT", "batch_size")])
def get_image_size(ctx, image, unique_id=None):
    """Width, height and batch size of an image batch (also shown on the node)."""
    batch, height, width = int(image.shape[0]), int(image.shape[1]), int(image.shape[2])
    ctx.send_text(f"width: {width}, height: {height}\n batch size: {batch}")
    return width, height, batch
