"""The discrete noise schedule of eps-prediction U-Nets (SD 1.x, SDXL) and ComfyUI's schedulers on it.

The model was trained on 1000 timesteps with ``betas`` from ``beta_start`` to ``beta_end``
(``scaled_linear``: linear in sqrt). In k-diffusion's variance-exploding form a noisy latent is
``x = x0 + sigma * eps`` with ``sigma_t = sqrt((1 - alphabar_t) / alphabar_t)``; between table
entries sigma and timestep are interpolated in log-sigma (k-diffusion's ``sigma_to_t``).

Schedulers (all end with 0): ``normal`` (timesteps evenly spaced from the last to the first),
``sgm_uniform`` (the same with N+1 points, the last dropped), ``karras`` (rho 7), ``exponential``
(even in log sigma), ``simple`` (every len/N-th table entry from the top), ``ddim_uniform`` (every
len//N-th entry from index 1 upwards, reversed), ``beta`` (table entries at Beta(0.6, 0.6) quantiles),
``beta57`` (the same at Beta(0.5, 0.7), RES4LYF's), ``kl_optimal`` and ``linear_quadratic``
(``models/sigma_schedules.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from models.sigma_schedules import ddim_uniform, kl_optimal, linear_quadratic

SCHEDULERS = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta", "linear_quadratic",
              "kl_optimal", "beta57")


def sigma_table(beta_start: float, beta_end: float, beta_schedule: str = "scaled_linear",
                steps: int = 1000) -> torch.Tensor:
    """The model's ``steps`` sigmas, ascending (entry t is timestep t), in float32 as diffusers has them."""
    if beta_schedule == "scaled_linear":
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float32) ** 2
    elif beta_schedule == "linear":
        betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float32)
    else:
        raise ValueError(f"unknown beta schedule {beta_schedule!r}")
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5


@dataclass(frozen=True, eq=False)
class DiscreteSchedule:
    """Sigma <-> timestep for one model, the schedulers, and how noise enters a latent."""
    sigmas: torch.Tensor  # ascending, float32
    log_sigmas: torch.Tensor = field(init=False)
    # sigma -> timestep of single sigmas: every step asks for its sigma's timestep (the U-Net call, the
    # ControlNet / timestep ranges) and a re-run asks for the same ones; each lookup is ~10 small tensor ops
    _timesteps: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "log_sigmas", self.sigmas.log())

    @classmethod
    def from_settings(cls, settings: dict) -> "DiscreteSchedule":
        return cls(sigma_table(float(settings["beta_start"]), float(settings["beta_end"]),
                               settings.get("beta_schedule", "scaled_linear"),
                               int(settings.get("num_train_timesteps", 1000))))

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor | float) -> torch.Tensor:
        if isinstance(sigma, float) or (isinstance(sigma, torch.Tensor) and sigma.dim() == 0):
            key = float(sigma)
            if key not in self._timesteps:
                if len(self._timesteps) >= 4096:  # many different schedules: start again
                    self._timesteps.clear()
                self._timesteps[key] = self._sigma_to_t(torch.tensor(key, dtype=torch.float32))
            return self._timesteps[key].clone()
        return self._sigma_to_t(sigma)

    def _sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        log_sigma = torch.as_tensor(sigma, dtype=torch.float32).log()
        distances = log_sigma.reshape(-1, 1) - self.log_sigmas.reshape(1, -1)
        low = distances.ge(0).cumsum(dim=1).argmax(dim=1).clamp(max=len(self.sigmas) - 2)
        low_value, high_value = self.log_sigmas[low], self.log_sigmas[low + 1]
        weight = ((low_value - log_sigma.reshape(-1)) / (low_value - high_value)).clamp(0, 1)
        return ((1 - weight) * low + weight * (low + 1)).reshape(torch.as_tensor(sigma).shape)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32)
        low, high = t.floor().long(), t.ceil().long()
        weight = t - low
        return ((1 - weight) * self.log_sigmas[low] + weight * self.log_sigmas[high]).exp()

    # -- progress (ConditioningSetTimestepRange, ControlNet start/end) ---------------------------------
    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.t_to_sigma(torch.tensor((1.0 - percent) * (len(self.sigmas) - 1))))

    def percent_of(self, sigma: float) -> float:
        if sigma <= 0.0:
            return 1.0
        return 1.0 - float(self.sigma_to_t(torch.tensor(sigma))) / (len(self.sigmas) - 1)

    def noise(self, sigma: float, noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The latent with noise at ``sigma``. At the model's top sigma the noise is scaled by
        ``sqrt(1 + sigma^2)``, as ComfyUI and diffusers' ``init_noise_sigma`` do for a full denoise."""
        if sigma >= self.sigma_max - 1e-5:
            return latent + noise * math.sqrt(1.0 + sigma * sigma)
        return latent + noise * sigma

    # -- schedulers ----------------------------------------------------------------------------------
    def schedule(self, name: str, steps: int) -> torch.Tensor:
        if steps <= 0:
            return torch.zeros(0)
        table = self.sigmas
        if name in ("normal", "sgm_uniform"):
            start, end = float(self.sigma_to_t(torch.tensor(self.sigma_max))), \
                float(self.sigma_to_t(torch.tensor(self.sigma_min)))
            times = torch.linspace(start, end, steps + 1)[:-1] if name == "sgm_uniform" else \
                torch.linspace(start, end, steps)
            sigmas = self.t_to_sigma(times)
        elif name == "karras":
            rho = 7.0
            ramp = torch.linspace(0, 1, steps)
            low, high = self.sigma_min ** (1 / rho), self.sigma_max ** (1 / rho)
            sigmas = (high + ramp * (low - high)) ** rho
        elif name == "exponential":
            sigmas = torch.linspace(math.log(self.sigma_max), math.log(self.sigma_min), steps).exp()
        elif name == "simple":
            stride = len(table) / steps
            sigmas = torch.stack([table[-(1 + int(k * stride))] for k in range(steps)])
        elif name == "ddim_uniform":
            sigmas = ddim_uniform(table, steps)
        elif name == "beta":
            return self.beta_sigmas(steps)
        elif name == "beta57":
            return self.beta_sigmas(steps, 0.5, 0.7)
        elif name == "kl_optimal":
            return kl_optimal(steps, self.sigma_min, self.sigma_max)
        elif name == "linear_quadratic":
            return linear_quadratic(steps, self.sigma_max)
        else:
            raise ValueError(f"unknown scheduler {name!r}; expected one of {', '.join(SCHEDULERS)}")
        return torch.cat([sigmas.to(torch.float32), torch.zeros(1)])

    def timestep_sigmas(self, timesteps: list[int]) -> torch.Tensor:
        """The sigmas at these model timesteps, then 0 (SDTurboScheduler)."""
        return torch.cat([self.t_to_sigma(torch.tensor(timesteps, dtype=torch.float32)).reshape(-1), torch.zeros(1)])

    def beta_sigmas(self, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
        """Table entries at the Beta(alpha, beta) quantiles ``1 - k/steps`` (repeats dropped), then 0."""
        from scipy.stats import beta as beta_distribution

        quantiles = 1.0 - np.arange(steps) / steps
        indices = np.rint(beta_distribution.ppf(quantiles, alpha, beta) * (len(self.sigmas) - 1)).astype(np.int64)
        kept = [int(i) for k, i in enumerate(indices) if k == 0 or i != indices[k - 1]]
        return torch.cat([self.sigmas[kept].to(torch.float32), torch.zeros(1)])

    def sample(self, model, x: torch.Tensor, sigmas: torch.Tensor, sampler_name: str, *, seed: int = 0,
               callback=None) -> torch.Tensor:
        from models.stable_diffusion.k_samplers import sample

        return sample(model, x, sigmas, sampler_name, seed=seed, callback=callback)
