"""Where a sampler runs: the noise parametrisation of the model's latent.

A noisy latent is ``x = alpha(sigma) * x0 + sigma * noise`` with

- ``VE`` (SD 1.x / SDXL in k-diffusion's variance-exploding form): ``alpha = 1``;
- ``FLOW`` (SD3, FLUX, rectified flow): ``alpha = 1 - sigma``.

In both the model call returns ``d = (x - x0) / sigma`` (eps for VE, the velocity for FLOW), so
``x0 = x - sigma * d``. The exponential-integrator samplers (DPM-Solver++, UniPC, RES) work in the
half-log-SNR ``lambda = log(alpha / sigma)``; the ancestral ones step down deterministically to
``sigma_down`` and add fresh noise up to ``sigma_next`` (:meth:`NoiseSpace.ancestral`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NoiseSpace:
    flow: bool

    def alpha(self, sigma: float) -> float:
        return 1.0 - sigma if self.flow else 1.0

    def lam(self, sigma: float) -> float:
        """log(alpha / sigma): +inf at sigma 0; -inf at a flow model's sigma 1 (pure noise)."""
        if sigma <= 0.0:
            return math.inf
        if self.flow and sigma > 1.0:
            raise ValueError(f"sigma {sigma:g} is above 1, outside a rectified-flow model's range; this sampler "
                             f"works in log-SNR, where such a sigma has no meaning (use euler or heun)")
        if self.flow and sigma == 1.0:
            return -math.inf
        return math.log(self.alpha(sigma) / sigma)

    def midpoint(self, sigma: float, sigma_next: float, r: float = 0.5) -> float:
        """The sigma at ``lambda + r * h``, computed in float32 as k-diffusion does: the Brownian tree is
        queried there, and its path is sensitive to the last bit of the time."""
        import torch

        pair = torch.tensor([sigma, sigma_next], dtype=torch.float32)
        lam = pair.logit().neg() if self.flow else pair.log().neg()
        middle = lam[0] + (lam[1] - lam[0]) * r
        return float(middle.neg().sigmoid() if self.flow else middle.neg().exp())

    def ancestral(self, sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float, float]:
        """(sigma_down, sigma_up, scale): step deterministically to ``sigma_down``, then
        ``x = scale * x + sigma_up * noise`` lands on the marginal at ``sigma_next``."""
        if eta == 0.0 or sigma_next == 0.0:
            return sigma_next, 0.0, 1.0
        if not self.flow:  # k-diffusion's get_ancestral_step
            up = min(sigma_next, eta * math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
            return math.sqrt(sigma_next ** 2 - up ** 2), up, 1.0
        # rectified flow: a lower sigma_down, then rescale the signal and add noise in quadrature
        down = sigma_next * (1.0 + (sigma_next / sigma - 1.0) * eta)
        scale = (1.0 - sigma_next) / (1.0 - down)
        up = math.sqrt(max(sigma_next ** 2 - (scale * down) ** 2, 0.0))
        return down, up, scale


VE = NoiseSpace(flow=False)
FLOW = NoiseSpace(flow=True)
