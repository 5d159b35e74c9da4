"""Schedules defined on a model's sigma range alone, shared by every family (the VE table of
``models/stable_diffusion/schedule.py`` and the flow schedules of ``models/samplers.py`` call these):

- ``kl_optimal`` (Sabour et al. 2024, "Align Your Steps"): evenly spaced in ``arctan(sigma)`` from the
  largest to the smallest sigma;
- ``linear_quadratic`` (Genmo's Mochi schedule): in model time ``t = 1 - sigma / sigma_max``, the first
  half of the steps is linear up to ``threshold_noise`` (0.025), the rest a quadratic that reaches 1 at
  the last step with a continuous slope; scaled by the largest sigma;
- ``ddim_uniform``: every ``len(table) // steps``-th entry of an ascending sigma table, from its second,
  largest first (as k-diffusion's DDIM-uniform spacing);
- SD-Turbo's timesteps (``SDTurboScheduler``): 999, 899, ..., 99, the last ``10 * denoise`` of them
  (as many as ``steps``).
Each but ``ddim_uniform`` returns float32 sigmas ending with 0 (the callers append it to that one).
"""
from __future__ import annotations

import math

import torch

TURBO_TIMESTEPS = tuple(range(999, 0, -100))


def kl_optimal(steps: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    fraction = torch.arange(steps, dtype=torch.float32) / max(steps - 1, 1)
    angles = fraction * math.atan(sigma_min) + (1 - fraction) * math.atan(sigma_max)
    return torch.cat([angles.tan(), torch.zeros(1)])


def ddim_uniform(table: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.flip(table[1::max(len(table) // steps, 1)], dims=[0])


def linear_quadratic(steps: int, sigma_max: float, threshold_noise: float = 0.025,
                     linear_steps: int | None = None) -> torch.Tensor:
    if steps == 1:
        return torch.tensor([sigma_max, 0.0], dtype=torch.float32)
    linear_steps = steps // 2 if linear_steps is None else linear_steps
    quadratic_steps = steps - linear_steps
    # t(i) = threshold * i / linear_steps for i < linear_steps; beyond, the quadratic through
    # (linear_steps, threshold) with the same slope there and t(steps) = 1
    excess = linear_steps - threshold_noise * steps
    quadratic = excess / (linear_steps * quadratic_steps ** 2)
    linear = threshold_noise / linear_steps - 2 * excess / quadratic_steps ** 2
    constant = quadratic * linear_steps ** 2
    times = [threshold_noise * i / linear_steps for i in range(linear_steps)]
    times += [quadratic * i * i + linear * i + constant for i in range(linear_steps, steps)]
    return torch.tensor([1.0 - t for t in times] + [0.0], dtype=torch.float32) * sigma_max


def turbo_timesteps(steps: int, denoise: float) -> list[int]:
    start = 10 - int(10 * denoise)
    return list(TURBO_TIMESTEPS[start:start + steps])
