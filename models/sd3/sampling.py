"""The KSampler procedure for SD3: noise from the seed on the CPU, the sigma schedule for
steps/denoise/start/end, masked (inpainting) blending, and the sampler loop with progress."""
from __future__ import annotations

from typing import Callable

import torch

from models.samplers import sample, schedule
from models.sd3.denoiser import SD3Denoiser
from models.sd3.wrappers import SD3Model

ProgressFn = Callable[[int, int, torch.Tensor], None]  # (step, total, x0 prediction)


def seeded_noise(shape, seed: int) -> torch.Tensor:
    """Gaussian noise drawn on the CPU in float32 from ``seed``; identical on every device and the
    same draw as diffusers' ``randn_tensor`` with ``torch.Generator("cpu").manual_seed(seed)``."""
    generator = torch.Generator("cpu").manual_seed(int(seed) % (1 << 64))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)


def ksampler_sigmas(model: SD3Model, scheduler: str, steps: int, denoise: float = 1.0,
                    start_step: int | None = None, end_step: int | None = None,
                    force_full_denoise: bool = True) -> torch.Tensor:
    """The sigmas a KSampler run walks. ``denoise < 1`` schedules ``steps / denoise`` steps and runs
    the last ``steps`` of them (img2img); start/end cut the schedule (KSamplerAdvanced)."""
    if denoise <= 0.0:
        return torch.zeros(0)
    if denoise < 1.0:
        total = int(steps / denoise)
        sigmas = schedule(scheduler, total, model.shift)[-(steps + 1):]
    else:
        sigmas = schedule(scheduler, steps, model.shift)
    if end_step is not None and end_step < len(sigmas) - 1:
        sigmas = sigmas[:end_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0.0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return torch.zeros(0)
        sigmas = sigmas[start_step:]
    return sigmas


def _latent_mask(mask: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    if mask.dim() == 2:
        mask = mask[None]
    if mask.dim() == 3:
        mask = mask[:, None]
    mask = torch.nn.functional.interpolate(mask.float(), size=latent.shape[-2:], mode="bilinear")
    return mask.expand(latent.shape[0], latent.shape[1], -1, -1) if mask.shape[0] == latent.shape[0] else \
        mask[:1].expand(latent.shape[0], latent.shape[1], -1, -1)


def run_ksampler(model: SD3Model, manager, positive: list, negative: list | None, latent: dict, *, seed: int,
                 steps: int, cfg: float, sampler_name: str, scheduler: str, denoise: float = 1.0,
                 add_noise: bool = True, start_step: int | None = None, end_step: int | None = None,
                 force_full_denoise: bool = True, progress: ProgressFn | None = None,
                 warn: Callable[[str], None] | None = None) -> dict:
    """Sample and return a new LATENT dict (the input is not modified)."""
    samples = latent["samples"].float()
    if samples.shape[1] != model.latent_channels:
        raise ValueError(f"the latent has {samples.shape[1]} channels but this SD3 model needs "
                         f"{model.latent_channels}; use EmptySD3LatentImage or an SD3 VAE")
    sigmas = ksampler_sigmas(model, scheduler, steps, denoise, start_step, end_step, force_full_denoise)
    out = {k: v for k, v in latent.items() if k != "samples"}
    if len(sigmas) < 2:
        out["samples"] = samples.clone()
        return out
    noise = seeded_noise(samples.shape, seed) if add_noise else torch.zeros_like(samples)
    first = sigmas[0]
    x = first * noise + (1.0 - first) * samples if add_noise else samples.clone()
    denoiser = SD3Denoiser(model, positive, negative, cfg, manager, warn=warn)
    denoiser.prepare(tuple(samples.shape))  # ControlNet fit checks and hint encoding, before any step
    mask = latent.get("noise_mask")
    velocity = denoiser
    if mask is not None:
        keep = 1.0 - _latent_mask(mask, samples)

        def velocity(x_in, sigma):  # inpainting: outside the mask, follow the original latent's path
            blended = x_in * (1.0 - keep) + (sigma * noise + (1.0 - sigma) * samples) * keep
            return denoiser(blended, sigma)

    def on_step(step: int, total: int, _x: torch.Tensor, x0: torch.Tensor) -> None:
        if progress is not None:
            progress(step, total, x0)

    with denoiser.session(), torch.inference_mode():
        result = sample(velocity, x, sigmas, sampler_name, seed=seed, callback=on_step)
    if mask is not None:
        result = result * (1.0 - keep) + samples * keep
    out["samples"] = result.float().cpu()
    return out
