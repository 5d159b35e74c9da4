"""The extra input channels of FLUX.1 Fill (the image to complete and where to complete it, from
``InpaintModelConditioning``) and of FLUX.1 Canny / Depth (the control image's latent, from
``InstructPixToPixConditioning``), taken from the conditioning.

Per conditioning entry, ``extras["concat_latent_image"]`` is the image's latent (already in the
model's latent space, [B, 16, h, w]). Canny / Depth take it alone: 16 + 16 = 32 channels, 128 packed
features. Fill also takes ``extras["concat_mask"]``, the mask at pixel resolution (1 = fill). The mask is folded into the latent grid: each 8x8 pixel block becomes 64 channels in
row-major order (diffusers' ``FluxFillPipeline.prepare_mask_latents``). Concatenated after the
noisy latent this gives 16 + 16 + 64 = 96 channels, 384 packed features. Without them, the model
is asked to fill everything: a zero image latent and an all-ones mask.
"""
from __future__ import annotations

import torch

from models.sd3.denoiser import _to_batch

PIXELS_PER_LATENT = 8


def _fit(tensor: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(tensor.shape[-2:]) == (height, width):
        return tensor
    return torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear")


def mask_channels(mask: torch.Tensor | None, batch: int, height: int, width: int) -> torch.Tensor:
    """[B, 64, h, w]: the pixel mask (any of [H,W], [B,H,W], [B,C,H,W]) in 8x8 blocks."""
    size = (height * PIXELS_PER_LATENT, width * PIXELS_PER_LATENT)
    if mask is None:
        mask = torch.ones(1, 1, *size)
    mask = mask.float().reshape(-1, *mask.shape[-3:]) if mask.dim() >= 3 else mask.float()[None]
    if mask.dim() == 3:
        mask = mask[:, None]
    mask = _fit(mask.mean(dim=1, keepdim=True), *size)
    blocks = mask.view(mask.shape[0], height, PIXELS_PER_LATENT, width, PIXELS_PER_LATENT).permute(0, 2, 4, 1, 3)
    return _to_batch(blocks.reshape(mask.shape[0], PIXELS_PER_LATENT ** 2, height, width), batch)


def fill_channels(extras: dict, batch: int, latent_channels: int, height: int, width: int,
                  with_mask: bool = True) -> torch.Tensor:
    """[B, latent_channels (+ 64 with the mask), h, w] for one conditioning entry."""
    image = extras.get("concat_latent_image")
    if image is None:
        image = torch.zeros(1, latent_channels, height, width)
    if image.shape[1] != latent_channels:
        raise ValueError(f"the inpainting image latent has {image.shape[1]} channels but this model needs "
                         f"{latent_channels}; encode it with this model's VAE")
    image = _to_batch(_fit(image.float(), height, width), batch)
    if not with_mask:
        return image
    return torch.cat([image, mask_channels(extras.get("concat_mask"), batch, height, width)], dim=1)


def concat_input(x: torch.Tensor, extras_per_entry: list[dict], batch: int, latent_channels: int,
                 expected: int) -> torch.Tensor:
    """The noisy latent (``batch`` rows per conditioning entry) with each entry's extra channels
    appended (``expected`` of them: the image latent, plus the mask for Fill)."""
    height, width = x.shape[-2:]
    with_mask = expected == latent_channels + PIXELS_PER_LATENT ** 2
    extra = torch.cat([fill_channels(extras, batch, latent_channels, height, width, with_mask)
                       for extras in extras_per_entry])
    if extra.shape[1] != expected:
        raise ValueError(f"this FLUX model takes {expected} extra input channels; the inpainting conditioning gives "
                         f"{extra.shape[1]}")
    return torch.cat([x, extra.to(x.device, x.dtype)], dim=1)
