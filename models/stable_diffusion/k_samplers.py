"""Samplers for eps-prediction models in k-diffusion's variance-exploding form, written from the
published formulas (Karras et al. 2022; Lu et al. DPM-Solver++; k-diffusion's names and step rules).

The model call is ``d = model(x, sigma)``: the eps prediction, i.e. the ODE derivative
``dx/dsigma = (x - x0) / sigma``, so ``x0 = x - sigma * d``. ``ddim`` is ``euler`` (an Euler step on
this ODE is exactly DDIM's deterministic update), as in ComfyUI. Each rule is tested against the
matching diffusers scheduler on the same sigmas (``tests/models/stable_diffusion/test_k_samplers.py``).
The samplers shared with rectified-flow models (UniPC, the SDE and ancestral DPM family, RES, iPNDM)
are in ``models/solvers/`` and run here in the VE space (alpha = 1).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from models.solvers import RULES, VE, run_steps, seeded_noise
from models.solvers import sample as sample_in_space

SAMPLERS = ("euler", "euler_ancestral", "heun", "dpm_2", "lms", "deis", "dpmpp_2m", "ddim", "lcm", *RULES)
Derivative = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int, torch.Tensor, torch.Tensor], None]


def _euler(model: Derivative, x, sigmas, i, state):
    d = model(x, sigmas[i])
    return x + d * (sigmas[i + 1] - sigmas[i]), x - sigmas[i] * d


def _euler_ancestral(model: Derivative, x, sigmas, i, state):
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    d = model(x, sigmas[i])
    x0 = x - sigma * d
    if sigma_next == 0.0:
        return x0, x0
    sigma_up = min(sigma_next, math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
    sigma_down = math.sqrt(sigma_next ** 2 - sigma_up ** 2)
    fresh = state["noise"](x)
    return x + d * (sigma_down - sigma) + fresh * sigma_up, x0


def _heun(model: Derivative, x, sigmas, i, state):
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    d = model(x, sigma)
    x0 = x - sigma * d
    predicted = x + d * (sigma_next - sigma)
    if float(sigma_next) == 0.0:
        return predicted, x0
    d_next = model(predicted, sigma_next)
    return x + (d + d_next) / 2 * (sigma_next - sigma), x0


def _dpm_2(model: Derivative, x, sigmas, i, state):
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    d = model(x, sigma)
    x0 = x - sigma * d
    if float(sigma_next) == 0.0:
        return x + d * (sigma_next - sigma), x0
    sigma_mid = ((sigma.log() + sigma_next.log()) / 2).exp()  # midpoint in log sigma
    d_mid = model(x + d * (sigma_mid - sigma), sigma_mid)
    return x + d_mid * (sigma_next - sigma), x0


def _lms_coefficient(order: int, sigmas: list[float], i: int, j: int) -> float:
    """Integral over [sigma_i, sigma_i+1] of the Lagrange basis polynomial of point i-j."""
    from scipy import integrate

    def basis(tau: float) -> float:
        product = 1.0
        for k in range(order):
            if k != j:
                product *= (tau - sigmas[i - k]) / (sigmas[i - j] - sigmas[i - k])
        return product

    return integrate.quad(basis, sigmas[i], sigmas[i + 1], epsrel=1e-4)[0]


def _lms(model: Derivative, x, sigmas, i, state, order: int = 4):
    d = model(x, sigmas[i])
    history = state.setdefault("derivatives", [])
    history.append(d)
    if len(history) > order:
        history.pop(0)
    current = min(i + 1, order)
    values = [float(s) for s in sigmas]
    coefficients = [_lms_coefficient(current, values, i, j) for j in range(current)]
    return x + sum(c * past for c, past in zip(coefficients, reversed(history))), x - sigmas[i] * d


def _deis(model: Derivative, x, sigmas, i, state):
    """DEIS in its time-based Adams-Bashforth form ("tAB", Zhang & Chen 2022, max order 3): on this ODE the
    Lagrange-polynomial integrals are LMS's; the step to sigma 0 is Euler, as ComfyUI's deis does."""
    return _lms(model, x, sigmas, i, state, order=1 if float(sigmas[i + 1]) == 0.0 else 3)


def _dpmpp_2m(model: Derivative, x, sigmas, i, state):
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    d = model(x, sigmas[i])
    x0 = x - sigma * d
    previous = state.get("previous")  # (x0, sigma) of the last step
    state["previous"] = (x0, sigma)
    if sigma_next == 0.0:
        return x0, x0
    h = math.log(sigma) - math.log(sigma_next)  # t = -log(sigma)
    data = x0
    if previous is not None:
        r = (math.log(previous[1]) - math.log(sigma)) / h
        data = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous[0]
    return (sigma_next / sigma) * x - math.expm1(-h) * data, x0


def _lcm(model: Derivative, x, sigmas, i, state):
    """Latent-consistency sampling: jump to the x0 prediction, then re-noise it to the next sigma."""
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    x0 = x - sigma * model(x, sigma)
    if float(sigma_next) == 0.0:
        return x0, x0
    return x0 + sigma_next * state["noise"](x), x0


_STEPS = {"lcm": _lcm, "euler": _euler, "ddim": _euler, "euler_ancestral": _euler_ancestral, "heun": _heun,
          "dpm_2": _dpm_2, "lms": _lms, "deis": _deis, "dpmpp_2m": _dpmpp_2m}


def sample(model: Derivative, x: torch.Tensor, sigmas: torch.Tensor, sampler_name: str, *, seed: int = 0,
           callback: StepCallback | None = None,
           noise: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Integrate from ``sigmas[0]`` to ``sigmas[-1]``; ``noise(x)`` draws the ancestral samplers' fresh
    noise (default: a CPU generator seeded from ``seed``)."""
    if sampler_name in RULES:
        return sample_in_space(model, x, sigmas, sampler_name, space=VE, seed=seed, callback=callback, noise=noise)
    if sampler_name not in _STEPS:
        raise ValueError(f"unknown sampler {sampler_name!r} for this model; expected one of {', '.join(SAMPLERS)}")
    state: dict = {"noise": noise or seeded_noise(seed)}
    return run_steps(_STEPS[sampler_name], model, x, sigmas, state, callback)
