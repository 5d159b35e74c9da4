"""ComfyUI's ``comfy.k_diffusion.sampling`` (k-diffusion's API): the sigma schedules, ``to_d``,
noise samplers and the Euler sampler are real; the other samplers raise when called.

A k-diffusion ``model`` is a denoiser: ``model(x, sigma * s_in, **extra_args)`` returns the
denoised estimate. Written from Karras et al. 2022 (EDM), not copied.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from _unavailable import placeholder_getattr


def append_zero(x: Any) -> Any:
    import torch

    return torch.cat([x, x.new_zeros([1])])


def append_dims(x: Any, target_dims: int) -> Any:
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"input has {x.ndim} dims but target_dims is {target_dims}, which is less")
    return x[(...,) + (None,) * missing]


def get_sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device: Any = "cpu") -> Any:
    """Karras et al.'s schedule: evenly spaced in ``sigma ** (1 / rho)``, then a final 0."""
    import torch

    ramp = torch.linspace(0, 1, n, device=device)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return append_zero((hi + ramp * (lo - hi)) ** rho).to(device)


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float, device: Any = "cpu") -> Any:
    """Evenly spaced in log sigma, then a final 0."""
    import torch

    return append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, device=device).exp())


def get_sigmas_polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0,
                               device: Any = "cpu") -> Any:
    import torch

    ramp = torch.linspace(1, 0, n, device=device) ** rho
    return append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def to_d(x: Any, sigma: Any, denoised: Any) -> Any:
    """The ODE derivative dx/dsigma for a denoised estimate."""
    return (x - denoised) / append_dims(sigma, x.ndim)


def default_noise_sampler(x: Any, seed: int | None = None) -> Callable[[Any, Any], Any]:
    import torch

    generator = torch.Generator(device=x.device).manual_seed(seed) if seed is not None else None
    return lambda sigma, sigma_next: torch.randn(x.shape, generator=generator, dtype=x.dtype, layout=x.layout,
                                                 device=x.device)


def sample_euler(model: Callable, x: Any, sigmas: Any, extra_args: dict | None = None,
                 callback: Callable | None = None, disable: Any = None, s_churn: float = 0.0,
                 s_tmin: float = 0.0, s_tmax: float = float("inf"), s_noise: float = 1.0) -> Any:
    """Euler steps along the probability-flow ODE (no churn support)."""
    from _unavailable import NotAvailableInPlexus

    if s_churn:
        raise NotAvailableInPlexus("comfy.k_diffusion.sampling.sample_euler(s_churn=...)")
    extra_args = extra_args or {}
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        d = to_d(x, sigmas[i], denoised)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


__getattr__ = placeholder_getattr(__name__, "this k-diffusion sampler works on ComfyUI's model wrappers")
