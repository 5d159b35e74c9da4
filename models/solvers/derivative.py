"""Samplers on the probability-flow ODE in sigma, ``dx/dsigma = d = (x - x0) / sigma``: the same rule
for VE and rectified-flow models (for flow, d is the velocity), as k-diffusion applies them.

- ``dpm_2_ancestral``: DPM-2 (a midpoint step in log sigma) down to sigma_down, then fresh noise up to
  sigma_next (:meth:`NoiseSpace.ancestral`; rectified flow rescales the signal first);
- ``gradient_estimation``: Euler plus ``(gamma - 1) (d - d_prev)`` (Permenter & Yuan 2024, gamma 2);
- ``ipndm``: improved pseudo-numerical (Zhang & Chen 2022): Adams-Bashforth in sigma on the last up to
  four derivatives with the fixed equal-step coefficients.
"""
from __future__ import annotations

import math

import torch

ADAMS_BASHFORTH = ((1.0,), (3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


def dpm_2_ancestral(model, x, sigmas, i, state, eta: float = 1.0):
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    d = model(x, sigmas[i])
    x0 = x - sigma * d
    down, up, scale = state["space"].ancestral(sigma, sigma_next, eta)
    if down == 0.0:
        return x + d * (down - sigma), x0
    sigma_mid = math.exp((math.log(sigma) + math.log(down)) / 2)
    d_mid = model(x + d * (sigma_mid - sigma), torch.tensor(sigma_mid, dtype=torch.float32))
    out = x + d_mid * (down - sigma)
    return scale * out + up * state["noise"](x), x0


def ipndm(model, x, sigmas, i, state):
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    d = model(x, sigma)
    history = state.setdefault("derivatives", [])
    history.append(d)
    del history[:-4]
    coefficients = ADAMS_BASHFORTH[len(history) - 1]
    slope = sum(c * past for c, past in zip(coefficients, reversed(history)))
    return x + (sigma_next - sigma) * slope, x - sigma * d


def gradient_estimation(model, x, sigmas, i, state, gamma: float = 2.0):
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    d = model(x, sigma)
    x0 = x - sigma * d
    previous = state.get("previous_d")
    state["previous_d"] = d
    if float(sigma_next) == 0.0:
        return x0, x0
    slope = d if previous is None else d + (gamma - 1) * (d - previous)
    return x + slope * (sigma_next - sigma), x0
