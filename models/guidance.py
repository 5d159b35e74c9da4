"""Guidance patches: MODEL patches that change how the conditional and unconditional predictions are
combined at each step (ComfyUI's ``sampler_cfg_function`` and ``sampler_post_cfg_function``).

A patch rides on a model clone (``model.with_patch``), never on the cached base model, and the shared
denoiser (``models/sd3/denoiser.py``, used by SD3, FLUX, SD 1.x and SDXL) calls it through two
optional methods, each ``(GuidanceStep) -> prediction``:

- ``cfg_function``: replaces ``uncond + cfg * (cond - uncond)`` (the last such patch wins, as in
  ComfyUI); called only when there is a negative (cfg != 1);
- ``post_cfg_function``: rewrites the combined prediction afterwards; every such patch, in order.

Predictions are what the network returns (flow velocity for SD3/FLUX, noise for SD 1.x/SDXL); in both
``x0 = x - sigma * prediction``, which :meth:`GuidanceStep.denoised` and :meth:`GuidanceStep.prediction`
convert, so a patch written for ComfyUI's x0 space reads the same here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GuidanceStep:
    x: torch.Tensor
    sigma: float
    cond: torch.Tensor  # the positive prediction
    uncond: torch.Tensor | None  # the negative prediction; None without CFG
    cfg: float
    guided: torch.Tensor  # the combined prediction so far

    def denoised(self, prediction: torch.Tensor) -> torch.Tensor:
        return self.x - self.sigma * prediction

    def prediction(self, denoised: torch.Tensor) -> torch.Tensor:
        return (self.x - denoised) / self.sigma


@dataclass(frozen=True)
class CFGNormPatch:
    """CFGNorm. Post-CFG (default): in x0 space, scale the guided x0 down to the norm (over channels,
    per pixel) of the positive x0, never up, times ``strength``. Pre-CFG: the combined CFG prediction
    is rescaled to the positive prediction's norm, unclamped; ``strength`` blends with plain CFG."""
    strength: float = 1.0
    pre_cfg: bool = False

    def cfg_function(self, step: GuidanceStep) -> torch.Tensor:
        combined = step.uncond + step.cfg * (step.cond - step.uncond)
        if not self.pre_cfg:
            return combined
        cond_norm = torch.linalg.vector_norm(step.cond, dim=1, keepdim=True)
        combined_norm = torch.linalg.vector_norm(combined, dim=1, keepdim=True)
        rescale = torch.where(combined_norm > 0, cond_norm / combined_norm.clamp_min(1e-12),
                              torch.ones_like(combined_norm))
        rescaled = combined * rescale
        return rescaled if self.strength == 1.0 else self.strength * rescaled + (1.0 - self.strength) * combined

    def post_cfg_function(self, step: GuidanceStep) -> torch.Tensor:
        if self.pre_cfg:
            return step.guided
        denoised = step.denoised(step.guided)
        cond_denoised = step.denoised(step.cond)
        scale = (torch.linalg.vector_norm(cond_denoised, dim=1, keepdim=True)
                 / (torch.linalg.vector_norm(denoised, dim=1, keepdim=True) + 1e-8)).clamp(0.0, 1.0)
        out = denoised * scale * self.strength
        if self.strength > 1.0 and not torch.isfinite(out).all():
            raise ValueError(f"CFGNorm: strength={self.strength} made the denoised prediction non-finite; values "
                             f"above 1.0 amplify it at every step (1.0 or less never overflows)")
        return step.prediction(out)
