"""Differential diffusion: a soft inpainting mask read as "how many of the steps may change this
pixel". At each step, the latent noise mask is replaced by its thresholded form: an area is
re-sampled only once the remaining fraction of the run (in model timesteps, from the run's first
sigma down to its last, or the model's smallest sigma) falls to its mask value or below. A mask of
1 changes from the first step, 0.5 from halfway, 0 never. ``strength`` below 1 blends the
thresholded mask with the original soft one.

The patch works on any MODEL whose sampling runs through ``models/sampling.py``; it is a value on
the cloned MODEL's ``patches`` and changes nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


def _timestep(rules: Any, sigma: float) -> float:
    """A quantity linear in the model's timestep. Rectified-flow models (SD3, FLUX) take the sigma
    itself (scaled) as their timestep; discrete-schedule models (SD 1.x, SDXL) their table index,
    which ``percent_of`` measures linearly."""
    from models.sampling import FlowSampling

    if isinstance(rules, FlowSampling):
        return float(sigma)
    return 1.0 - float(rules.percent_of(float(sigma)))


def _smallest_sigma(rules: Any) -> float:
    from models.sampling import FlowSampling
    from models.samplers import shift_sigma

    if isinstance(rules, FlowSampling):
        return float(shift_sigma(torch.tensor(1 / 1000, dtype=torch.float64), rules.shift))
    return float(getattr(rules, "sigma_min", 0.0))


@dataclass(frozen=True)
class DifferentialDiffusion:
    """MODEL patch: ``denoise_mask(...)`` is asked for the mask of each step."""
    strength: float = 1.0

    def denoise_mask(self, model: Any, sigma: float, mask: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        from models.sampling import sampling_of

        rules = sampling_of(model)
        start = _timestep(rules, float(sigmas[0]))
        end = _timestep(rules, max(float(sigmas[-1]), _smallest_sigma(rules)))
        if start <= end:
            return mask
        threshold = (_timestep(rules, sigma) - end) / (start - end)
        binary = (mask >= threshold).to(mask.dtype)
        if self.strength < 1.0:
            return self.strength * binary + (1.0 - self.strength) * mask
        return binary


def denoise_mask_patches(model: Any) -> list:
    """The MODEL's patches that rewrite the noise mask per step, in order."""
    return [patch for patch in getattr(model, "patches", ()) if hasattr(patch, "denoise_mask")]
