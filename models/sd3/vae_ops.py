"""VAE encode/decode between IMAGE ([B,H,W,C] in 0..1) and SD3 LATENT ([B,16,H/8,W/8], scaled as
diffusers does: ``(z - shift_factor) * scaling_factor``), whole or in blended tiles."""
from __future__ import annotations

from typing import Callable

import torch

from models.sd3.wrappers import SD3Vae


def _decode_raw(vae: SD3Vae, latents: torch.Tensor, device, dtype) -> torch.Tensor:
    z = latents.to(device, dtype) / vae.scaling_factor + vae.shift_factor
    with torch.inference_mode():
        image = vae.vae.decode(z, return_dict=False)[0]
    return (image / 2 + 0.5).clamp(0, 1).float().cpu()


def _encode_raw(vae: SD3Vae, pixels_nchw: torch.Tensor, device, dtype) -> torch.Tensor:
    x = (pixels_nchw * 2 - 1).to(device, dtype)
    with torch.inference_mode():
        z = vae.vae.encode(x).latent_dist.mode()
    return ((z - vae.shift_factor) * vae.scaling_factor).float().cpu()


def _model_dtype(vae: SD3Vae) -> torch.dtype:
    return next(vae.vae.parameters()).dtype


def decode(vae: SD3Vae, latents: torch.Tensor, manager) -> torch.Tensor:
    """LATENT samples -> IMAGE [B,H,W,C]."""
    with manager.on_device(vae) as device:
        image = _decode_raw(vae, latents, device, _model_dtype(vae))
    return image.permute(0, 2, 3, 1).contiguous()


def crop_to_multiple(pixels: torch.Tensor, multiple: int) -> torch.Tensor:
    """Center-crop [B,H,W,C] pixels so that H and W are multiples of ``multiple``."""
    height, width = pixels.shape[1], pixels.shape[2]
    new_h, new_w = height // multiple * multiple, width // multiple * multiple
    if (new_h, new_w) == (height, width):
        return pixels
    top, left = (height - new_h) // 2, (width - new_w) // 2
    return pixels[:, top:top + new_h, left:left + new_w, :]


def crop_with_mask(pixels: torch.Tensor, mask: torch.Tensor, multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A MASK ([H,W] or [B,H,W]) resized to the [B,H,W,C] image (bilinear), then both center-cropped
    to multiples of ``multiple``: (pixels [B,H,W,C], mask [B,1,H,W]). The inpainting nodes' first step."""
    mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()
    mask = torch.nn.functional.interpolate(mask, size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
    pixels = crop_to_multiple(pixels, multiple)
    return pixels, crop_to_multiple(mask.permute(0, 2, 3, 1), multiple).permute(0, 3, 1, 2)


def grey_masked(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pixels`` [B,H,W,C] with the area where ``mask`` [B,1,H,W] rounds to 1 set to neutral grey."""
    keep = (1.0 - mask.round()).permute(0, 2, 3, 1)  # [B,H,W,1]
    return (pixels - 0.5) * keep + 0.5


def encode(vae: SD3Vae, pixels: torch.Tensor, manager) -> torch.Tensor:
    """IMAGE [B,H,W,C] -> LATENT samples (the distribution's mode, deterministic)."""
    pixels = crop_to_multiple(pixels[..., :3].float(), vae.downscale)
    with manager.on_device(vae) as device:
        return _encode_raw(vae, pixels.permute(0, 3, 1, 2), device, _model_dtype(vae))


def _feather(height: int, width: int, overlap: int) -> torch.Tensor:
    """A [1,1,h,w] weight that ramps linearly over ``overlap`` at each edge (never zero)."""
    def ramp(n: int) -> torch.Tensor:
        if overlap <= 0:
            return torch.ones(n)
        position = torch.arange(n, dtype=torch.float32)
        edge = torch.minimum(position + 1, n - position)
        return torch.clamp(edge / (overlap + 1), max=1.0)
    return (ramp(height)[:, None] * ramp(width)[None, :])[None, None]


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted(set(starts))


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int,
          scale_num: int, scale_den: int, out_channels: int) -> torch.Tensor:
    """Apply ``fn`` to overlapping tiles of ``x`` [B,C,H,W] whose output is spatially scaled by
    ``scale_num / scale_den``, blending the tiles with feathered weights."""
    batch, _, height, width = x.shape
    out_h, out_w = height * scale_num // scale_den, width * scale_num // scale_den
    output = torch.zeros(batch, out_channels, out_h, out_w)
    weights = torch.zeros(1, 1, out_h, out_w)
    out_overlap = overlap * scale_num // scale_den
    for top in _tile_starts(height, tile, overlap):
        for left in _tile_starts(width, tile, overlap):
            piece = fn(x[:, :, top:top + tile, left:left + tile])
            o_top, o_left = top * scale_num // scale_den, left * scale_num // scale_den
            weight = _feather(piece.shape[2], piece.shape[3], out_overlap)
            output[:, :, o_top:o_top + piece.shape[2], o_left:o_left + piece.shape[3]] += piece * weight
            weights[:, :, o_top:o_top + piece.shape[2], o_left:o_left + piece.shape[3]] += weight
    return output / weights


def decode_tiled(vae: SD3Vae, latents: torch.Tensor, manager, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
    """Decode in pixel tiles of ``tile_size`` (given in pixels) overlapping by ``overlap`` pixels."""
    factor = vae.downscale
    tile, lap = max(1, tile_size // factor), max(0, overlap // factor)
    with manager.on_device(vae) as device:
        dtype = _model_dtype(vae)
        image = tiled(lambda z: _decode_raw(vae, z, device, dtype), latents.float(), tile, min(lap, tile // 2),
                      factor, 1, int(vae.vae.config.out_channels))
    return image.permute(0, 2, 3, 1).contiguous()


def encode_tiled(vae: SD3Vae, pixels: torch.Tensor, manager, tile_size: int = 512, overlap: int = 64) -> torch.Tensor:
    factor = vae.downscale
    pixels = crop_to_multiple(pixels[..., :3].float(), factor)
    tile = max(factor, tile_size // factor * factor)
    lap = min(overlap // factor * factor, tile // 2)
    with manager.on_device(vae) as device:
        dtype = _model_dtype(vae)
        return tiled(lambda p: _encode_raw(vae, p, device, dtype), pixels.permute(0, 3, 1, 2), tile, lap,
                     1, factor, vae.latent_channels)
