"""Cheap latent -> RGB previews during sampling.

For each VAE a linear map (one weight per latent channel and colour, plus a bias) is fitted by
least squares: a few smooth synthetic colour images are encoded, and each latent pixel is matched
with the mean colour of the 8x8 block it came from. The fit takes one small encode per VAE and is
cached on the VAE wrapper; a preview then costs one tiny matrix product per step.
"""
from __future__ import annotations

import torch

from models.sd3.wrappers import SD3Vae

FIT_IMAGES = 6
FIT_SIZE = 96


def _synthetic_images(count: int, size: int) -> torch.Tensor:
    """[count, 3, size, size] smooth random colour fields, plus flat greys for the bias."""
    generator = torch.Generator("cpu").manual_seed(1234)
    coarse = torch.rand(count, 3, 4, 4, generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)
    images[-1] = 0.5
    return images.clamp(0, 1)


def fit_projection(vae: SD3Vae, manager) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [C, 3], bias [3]) mapping scaled latents to RGB in 0..1; cached per VAE."""
    cached = vae.preview.get("linear")
    if cached is not None:
        return cached
    from models.sd3.vae_ops import encode

    images = _synthetic_images(FIT_IMAGES, FIT_SIZE)
    latents = encode(vae, images.permute(0, 2, 3, 1), manager)  # [N, C, h, w]
    factor = images.shape[-1] // latents.shape[-1]
    targets = torch.nn.functional.avg_pool2d(images, factor)  # [N, 3, h, w]
    features = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double()
    design = torch.cat([features, torch.ones(features.shape[0], 1, dtype=torch.float64)], dim=1)
    answers = targets.permute(0, 2, 3, 1).reshape(-1, 3).double()
    solution = torch.linalg.lstsq(design, answers, driver="gelsd").solution  # [C + 1, 3]
    weight, bias = solution[:-1].float(), solution[-1].float()
    vae.preview["linear"] = (weight, bias)
    return weight, bias


def latent_to_rgb(latents: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """[C, h, w] latent -> [h, w, 3] colours in 0..1."""
    rgb = torch.einsum("chw,cr->hwr", latents.float().cpu(), weight) + bias
    return rgb.clamp(0, 1)


def preview_image(latents: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, max_side: int = 512):
    """A PIL image of the first latent in the batch, at most ``max_side`` pixels on a side."""
    from PIL import Image

    rgb = latent_to_rgb(latents[0], weight, bias)
    image = Image.fromarray((rgb * 255).round().to(torch.uint8).numpy())
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    return image


class LatentPreviewer:
    """Per-run preview maker; without a fitted VAE map it uses a fixed channel-mean grey preview."""

    def __init__(self, weight: torch.Tensor | None, bias: torch.Tensor | None, channels: int, max_side: int = 512):
        if weight is None or bias is None:
            weight = torch.full((channels, 3), 1.0 / (2 * channels))
            bias = torch.full((3,), 0.5)
        self.weight, self.bias, self.max_side = weight, bias, max_side

    def __call__(self, x0: torch.Tensor):
        return preview_image(x0, self.weight, self.bias, self.max_side)
