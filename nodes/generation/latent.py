"""Latent nodes: empty latents and resizing."""
from __future__ import annotations

from execution.declare import Combo, Float, In, Int, Out, node
from nodes.image.tensor_ops import CROP_MODES, UPSCALE_METHODS

MAX_RESOLUTION = 16384


def _latent_bytes(channels: int):
    """``memory`` hook: float32 latents at 1/8 of the image size."""
    return lambda width, height, batch_size=1: 4 * batch_size * channels * (height // 8) * (width // 8)


def _zeros(batch_size: int, channels: int, height: int, width: int):
    import torch

    return {"samples": torch.zeros(batch_size, channels, height // 8, width // 8)}


@node("EmptyLatentImage", category="latent",
      inputs=[Int("width", 512, min=16, max=MAX_RESOLUTION, step=8), Int("height", 512, min=16, max=MAX_RESOLUTION, step=8),
              Int("batch_size", 1, min=1, max=4096)],
      outputs=[Out("LATENT")], memory=_latent_bytes(4))
def empty_latent_image(width: int, height: int, batch_size: int = 1):
    """A batch of empty 4-channel latents (SD1/SDXL layout)."""
    return (_zeros(batch_size, 4, height, width),)


@node("EmptySD3LatentImage", category="latent/sd3",
      inputs=[Int("width", 1024, min=16, max=MAX_RESOLUTION, step=16),
              Int("height", 1024, min=16, max=MAX_RESOLUTION, step=16), Int("batch_size", 1, min=1, max=4096)],
      outputs=[Out("LATENT")], memory=_latent_bytes(16))
def empty_sd3_latent_image(width: int, height: int, batch_size: int = 1):
    """A batch of empty 16-channel SD3 latents (1/8 of the image size)."""
    return (_zeros(batch_size, 16, height, width),)


@node("LatentUpscale", category="latent",
      inputs=[In("samples", "LATENT"), Combo("upscale_method", UPSCALE_METHODS),
              Int("width", 1024, min=0, max=MAX_RESOLUTION, step=8), Int("height", 1024, min=0, max=MAX_RESOLUTION, step=8),
              Combo("crop", CROP_MODES)],
      outputs=[Out("LATENT")])
def latent_upscale(samples: dict, upscale_method: str, width: int, height: int, crop: str):
    """Resize latents to an image size (divided by 8); 0 for one side keeps the aspect ratio."""
    from nodes.image.tensor_ops import resize_channels_first

    latent = samples["samples"]
    if width == 0 and height == 0:
        return (samples,)
    src_h, src_w = latent.shape[-2] * 8, latent.shape[-1] * 8
    width = width or max(64, round(src_w * height / src_h))
    height = height or max(64, round(src_h * width / src_w))
    resized = resize_channels_first(latent, width // 8, height // 8, upscale_method, crop)
    out = {k: v for k, v in samples.items() if k != "noise_mask"}
    out["samples"] = resized
    return (out,)


@node("LatentUpscaleBy", category="latent",
      inputs=[In("samples", "LATENT"), Combo("upscale_method", UPSCALE_METHODS),
              Float("scale_by", 1.5, min=0.01, max=8.0, step=0.01)],
      outputs=[Out("LATENT")])
def latent_upscale_by(samples: dict, upscale_method: str, scale_by: float):
    """Resize latents by a factor (sides rounded); the latent's other entries are kept."""
    from nodes.image.tensor_ops import resize_channels_first

    latent = samples["samples"]
    width, height = round(latent.shape[-1] * scale_by), round(latent.shape[-2] * scale_by)
    return ({**samples, "samples": resize_channels_first(latent, max(1, width), max(1, height), upscale_method)},)


@node("SetLatentNoiseMask", category="latent/inpaint",
      inputs=[In("samples", "LATENT"), In("mask", "MASK")], outputs=[Out("LATENT")])
def set_latent_noise_mask(samples: dict, mask):
    """Only the masked part (1) of the latent is re-sampled; the rest follows the input (inpainting)."""
    return ({**samples, "noise_mask": mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])},)
