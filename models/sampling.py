"""The sampling procedure every sampler node shares (KSampler, KSamplerAdvanced, SamplerCustom,
SamplerCustomAdvanced): NOISE, GUIDER and SIGMAS values, latent preparation, and the loop.

- NOISE: :class:`SeededNoise` (seeded on the CPU in float32, as diffusers' ``randn_tensor``) or
  :class:`DisabledNoise` (the latent is taken as it is, e.g. for a second chained sampler);
- GUIDER: :class:`CFGGuider` (standard CFG; ``negative=None`` is BasicGuider) and
  :class:`DualCFGGuider`. A guider asks its MODEL for the family's per-step model call through
  ``model.denoiser(positive, negative, cfg, manager, warn)`` (SD3: ``models/sd3/denoiser.py``);
- SIGMAS: a 1-D float32 tensor from high to low (``models/samplers.py`` makes the schedules).

:func:`sample_latent` returns (``output``, ``denoised_output``): the sampled latent and the x0
prediction of the last step. KSampler is a CFGGuider + seeded noise + a schedule, so KSampler and
SamplerCustomAdvanced with the same settings give the same pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from models.differential_diffusion import denoise_mask_patches
from models.samplers import percent_to_sigma, sample, schedule, shift_sigma, unshift_sigma

ProgressFn = Callable[[int, int, torch.Tensor], None]  # (step, total, x0 prediction)
Warn = Callable[[str], None]


def seeded_noise(shape, seed: int) -> torch.Tensor:
    """Gaussian noise drawn on the CPU in float32 from ``seed``; identical on every device and the
    same draw as diffusers' ``randn_tensor`` with ``torch.Generator("cpu").manual_seed(seed)``."""
    generator = torch.Generator("cpu").manual_seed(int(seed) % (1 << 64))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)


@dataclass(frozen=True)
class FlowSampling:
    """How a rectified-flow model (SD3, FLUX) is sampled: ``x = (1 - sigma) * x0 + sigma * noise``, the
    flow samplers and schedules of ``models/samplers.py`` with the model's time shift.

    A MODEL whose ``sampling`` attribute is set brings its own object with these methods (SD 1.x /
    SDXL: ``models/stable_diffusion/sampling.py``); :func:`sampling_of` picks it."""
    shift: float

    def schedule(self, name: str, steps: int) -> torch.Tensor:
        return schedule(name, steps, self.shift)

    def noise(self, sigma, noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return sigma * noise + (1.0 - sigma) * latent

    def sample(self, model, x, sigmas, sampler_name: str, *, seed: int = 0, callback=None) -> torch.Tensor:
        return sample(model, x, sigmas, sampler_name, seed=seed, callback=callback)

    def percent_to_sigma(self, percent: float) -> float:
        return percent_to_sigma(percent, self.shift)

    def timestep_sigmas(self, timesteps: list[int]) -> torch.Tensor:
        """The sigmas at these model timesteps (of 1000), then 0 (SDTurboScheduler)."""
        times = torch.tensor(timesteps, dtype=torch.float64) / 1000
        return torch.cat([shift_sigma(times, self.shift).to(torch.float32), torch.zeros(1)])

    def percent_of(self, sigma: float) -> float:
        return 1.0 - unshift_sigma(sigma, self.shift)


def sampling_of(model: Any):
    """The model's sampling rules: its own ``sampling`` object, or rectified flow with its shift."""
    own = getattr(model, "sampling", None)
    return own if own is not None else FlowSampling(float(model.shift))


def is_guidance_patch(patch: Any) -> bool:
    """A MODEL patch that rewrites the CFG combination (``models/guidance.py``)."""
    return hasattr(patch, "cfg_function") or hasattr(patch, "post_cfg_function")


@dataclass(frozen=True)
class SamplerChoice:
    """SAMPLER from KSamplerSelect: which step rule ``models/samplers.py`` runs."""
    sampler_name: str


@dataclass(frozen=True)
class SeededNoise:
    """NOISE from RandomNoise (or a KSampler's seed)."""
    seed: int

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return seeded_noise(latent["samples"].shape, self.seed)


@dataclass(frozen=True)
class DisabledNoise:
    """NOISE from DisableNoise: no noise is added; the latent is sampled from as it is."""
    seed: int = 0

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return torch.zeros(latent["samples"].shape, dtype=torch.float32)


@dataclass(frozen=True, eq=False)
class CFGGuider:
    """GUIDER: ``uncond + cfg * (cond - uncond)``; without a negative, the positive prediction."""
    model: Any
    positive: list
    negative: list | None = None
    cfg: float = 1.0

    def denoiser(self, manager: Any, warn: Warn | None = None):
        return self.model.denoiser(self.positive, self.negative, self.cfg, manager, warn)


class _DualCFGDenoiser:
    """Three unguided predictions (cond1, cond2, negative) combined as DualCFGGuider says."""

    def __init__(self, parts: list, cfg_conds: float, cfg_cond2_negative: float, nested: bool):
        self.parts, self.cfg1, self.cfg2, self.nested = parts, cfg_conds, cfg_cond2_negative, nested

    def prepare(self, latent_shape: tuple) -> None:
        for part in self.parts:
            part.prepare(latent_shape)

    def session(self):
        return self.parts[0].session()  # one model, one set of patches: hold them once

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cond1, cond2, negative = (part(x, sigma) for part in self.parts)
        if self.nested:
            inner = cond2 + self.cfg1 * (cond1 - cond2)
            return negative + self.cfg2 * (inner - negative)
        return negative + self.cfg2 * (cond2 - negative) + self.cfg1 * (cond1 - cond2)


@dataclass(frozen=True, eq=False)
class DualCFGGuider:
    model: Any
    cond1: list
    cond2: list
    negative: list
    cfg_conds: float
    cfg_cond2_negative: float
    style: str = "regular"

    def denoiser(self, manager: Any, warn: Warn | None = None):
        # Guidance patches (CFGNorm) rewrite one CFG combination; DualCFG's three-way one is left as it is.
        model = self.model.clone(patches=tuple(p for p in self.model.patches if not is_guidance_patch(p)))
        parts = [model.denoiser(cond, None, 1.0, manager, warn) for cond in (self.cond1, self.cond2, self.negative)]
        return _DualCFGDenoiser(parts, float(self.cfg_conds), float(self.cfg_cond2_negative), self.style == "nested")


def ksampler_sigmas(model: Any, scheduler: str, steps: int, denoise: float = 1.0,
                    start_step: int | None = None, end_step: int | None = None,
                    force_full_denoise: bool = True) -> torch.Tensor:
    """The sigmas a KSampler run walks (also BasicScheduler's). ``denoise < 1`` schedules
    ``steps / denoise`` steps and keeps the last ``steps`` of them (img2img); start/end cut the
    schedule (KSamplerAdvanced)."""
    if denoise <= 0.0:
        return torch.zeros(0)
    if denoise < 1.0:
        total = int(steps / denoise)
        sigmas = sampling_of(model).schedule(scheduler, total)[-(steps + 1):]
    else:
        sigmas = sampling_of(model).schedule(scheduler, steps)
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


def fit_latent_channels(samples: torch.Tensor, channels: int) -> torch.Tensor:
    """An all-zero latent with another channel count (EmptyLatentImage's 4 channels into a 16-channel
    model) becomes zeros with the model's channels, as ComfyUI does; any other mismatch is an error."""
    if samples.shape[1] == channels:
        return samples
    if not torch.any(samples):
        return torch.zeros(samples.shape[0], channels, *samples.shape[2:], dtype=samples.dtype)
    raise ValueError(f"the latent has {samples.shape[1]} channels but this model needs {channels}; encode the "
                     f"image with this model's VAE (an empty latent of any channel count is accepted)")


def sample_latent(guider: Any, manager: Any, latent: dict, noise: Any, sigmas: torch.Tensor, sampler_name: str, *,
                  progress: ProgressFn | None = None, warn: Warn | None = None) -> tuple[dict, dict]:
    """(output, denoised_output) LATENT dicts; the input latent is not modified."""
    samples = fit_latent_channels(latent["samples"].float(), guider.model.latent_channels)
    out = {k: v for k, v in latent.items() if k != "samples"}
    if len(sigmas) < 2:
        out["samples"] = samples.clone()
        return out, dict(out)
    add_noise = not isinstance(noise, DisabledNoise)
    drawn = noise.generate_noise({**latent, "samples": samples}) if add_noise else torch.zeros_like(samples)
    rules = sampling_of(guider.model)
    x = rules.noise(sigmas[0], drawn, samples) if add_noise else samples.clone()
    denoiser = guider.denoiser(manager, warn)
    denoiser.prepare(tuple(samples.shape))  # ControlNet fit checks and hint encoding, before any step
    mask = latent.get("noise_mask")
    velocity = denoiser
    if mask is not None:
        latent_mask = _latent_mask(mask, samples)
        keep = 1.0 - latent_mask
        mask_patches = denoise_mask_patches(guider.model)

        def velocity(x_in, sigma):  # inpainting: outside the mask, follow the original latent's path
            step_keep = keep
            if mask_patches:  # DifferentialDiffusion: the mask of this step
                step_mask = latent_mask
                for patch in mask_patches:
                    step_mask = patch.denoise_mask(guider.model, float(sigma), step_mask, sigmas)
                step_keep = 1.0 - step_mask
            blended = x_in * (1.0 - step_keep) + rules.noise(sigma, drawn, samples) * step_keep
            return denoiser(blended, sigma)

    last_x0: list[torch.Tensor] = []

    def on_step(step: int, total: int, _x: torch.Tensor, x0: torch.Tensor) -> None:
        last_x0[:] = [x0]
        if progress is not None:
            progress(step, total, x0)

    with denoiser.session(), torch.inference_mode():
        result = rules.sample(velocity, x, sigmas, sampler_name, seed=noise.seed, callback=on_step)
    denoised = last_x0[0] if last_x0 else result
    if mask is not None:
        result = result * (1.0 - keep) + samples * keep
        denoised = denoised * (1.0 - keep) + samples * keep
    out["samples"] = result.float().cpu()
    return out, {**out, "samples": denoised.float().cpu()}


def run_ksampler(model: Any, manager: Any, positive: list, negative: list | None, latent: dict, *, seed: int,
                 steps: int, cfg: float, sampler_name: str, scheduler: str, denoise: float = 1.0,
                 add_noise: bool = True, start_step: int | None = None, end_step: int | None = None,
                 force_full_denoise: bool = True, progress: ProgressFn | None = None,
                 warn: Warn | None = None) -> dict:
    """KSampler / KSamplerAdvanced: a CFGGuider, seeded noise and a schedule through :func:`sample_latent`."""
    sigmas = ksampler_sigmas(model, scheduler, steps, denoise, start_step, end_step, force_full_denoise)
    noise = SeededNoise(seed) if add_noise else DisabledNoise(seed)
    output, _ = sample_latent(CFGGuider(model, positive, negative, cfg), manager, latent, noise, sigmas, sampler_name,
                              progress=progress, warn=warn)
    return output

