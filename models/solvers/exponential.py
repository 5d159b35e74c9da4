"""Exponential-integrator samplers in the half-log-SNR ``lambda`` of the model's noise space
(:mod:`models.solvers.space`): the data prediction ``x0`` is integrated exactly against the linear part
of the probability-flow ODE/SDE, so one formula serves VE (SD 1.x/SDXL, alpha = 1) and rectified-flow
(SD3/FLUX, alpha = 1 - sigma) models. With alpha = 1 each is k-diffusion's published rule.

- ``dpmpp_sde``: SDE-DPM-Solver++ with a midpoint (r = 1/2) and eta 1; noise from the Brownian tree;
- ``dpmpp_2m_sde``: SDE-DPM-Solver++(2M), midpoint form, eta 1, Brownian-tree noise;
- ``dpmpp_3m_sde``: the third-order multistep SDE solver of k-diffusion (eta 1, Brownian tree);
- ``dpmpp_2s_ancestral``: DPM-Solver++(2S) down to the ancestral sigma_down, then fresh Gaussian noise;
- ``res_multistep`` / ``res_multistep_ancestral``: the second-order multistep RES exponential
  integrator (Zhang et al. 2023), deterministic / ancestral (eta 1).

A step from a flow model's sigma 1 (pure noise, lambda = -inf) is the exact first-order step.
"""
from __future__ import annotations

import math

import torch


def _phi(h: float, eta: float) -> tuple[float, float, float]:
    """(decay of x, weight of x0, noise std over sigma_next) of one SDE-DPM-Solver++(1) step of size h."""
    decay = math.exp(-h * eta) if eta else 1.0
    return decay, -math.expm1(-h * (eta + 1.0)), math.sqrt(-math.expm1(-2.0 * h * eta)) if eta else 0.0


def _first_order(space, x, data, sigma: float, sigma_to: float, h: float, eta: float):
    """One SDE-DPM-Solver++(1) step of size ``h`` from ``sigma`` to ``sigma_to`` with the data estimate
    ``data``, before its noise: (the step, the weight of ``data``, the noise std over ``sigma_to``)."""
    decay, weight, std = _phi(h, eta)
    return (sigma_to / sigma) * decay * x + space.alpha(sigma_to) * weight * data, weight, std


def _denoise(model, x, sigma) -> torch.Tensor:
    return x - float(sigma) * model(x, sigma)


def dpmpp_sde(model, x, sigmas, i, state, eta: float = 1.0, r: float = 0.5):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = _denoise(model, x, sigmas[i])
    if sigma_next == 0.0:
        return x0, x0
    lam = space.lam(sigma)
    h = space.lam(sigma_next) - lam
    noise = state["noise_between"]
    if math.isfinite(h):
        sigma_mid = space.midpoint(sigma, sigma_next, r)
        x_mid, _, std = _first_order(space, x, x0, sigma, sigma_mid, r * h, eta)
        x_mid = x_mid + noise(x, sigma, sigma_mid) * sigma_mid * std
        x0_mid = _denoise(model, x_mid, torch.tensor(sigma_mid, dtype=torch.float32))
        data = (1 - 1 / (2 * r)) * x0 + (1 / (2 * r)) * x0_mid
    else:
        data = x0
    out, _, std = _first_order(space, x, data, sigma, sigma_next, h, eta)
    return out + noise(x, sigma, sigma_next) * sigma_next * std, x0


def dpmpp_2m_sde(model, x, sigmas, i, state, eta: float = 1.0):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = _denoise(model, x, sigmas[i])
    previous = state.get("previous")  # (x0, h) of the last step
    if sigma_next == 0.0:
        return x0, x0
    h = space.lam(sigma_next) - space.lam(sigma)
    out, weight, std = _first_order(space, x, x0, sigma, sigma_next, h, eta)
    alpha_next = space.alpha(sigma_next)
    if previous is not None and math.isfinite(previous[1]) and math.isfinite(h):
        r = previous[1] / h
        out = out + alpha_next * weight * (1 / (2 * r)) * (x0 - previous[0])
    state["previous"] = (x0, h)
    return out + state["noise_between"](x, sigma, sigma_next) * sigma_next * std, x0


def dpmpp_3m_sde(model, x, sigmas, i, state, eta: float = 1.0):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = _denoise(model, x, sigmas[i])
    history = state.setdefault("history", [])  # [(x0, h)] of the earlier steps, newest last
    if sigma_next == 0.0:
        return x0, x0
    h = space.lam(sigma_next) - space.lam(sigma)
    out, _, std = _first_order(space, x, x0, sigma, sigma_next, h, eta)
    alpha_next = space.alpha(sigma_next)
    usable = [entry for entry in history[-2:] if math.isfinite(entry[1])] if math.isfinite(h) else []
    h_eta = h * (eta + 1.0)
    phi_2 = math.expm1(-h_eta) / h_eta + 1.0 if usable else 0.0
    if len(usable) == 2:
        (x0_2, h_2), (x0_1, h_1) = usable
        r0, r1 = h_1 / h, h_2 / h
        d1_0, d1_1 = (x0 - x0_1) / r0, (x0_1 - x0_2) / r1
        d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        phi_3 = phi_2 / h_eta - 0.5
        out = out + alpha_next * (phi_2 * d1 - phi_3 * d2)
    elif len(usable) == 1:
        x0_1, h_1 = usable[0]
        out = out + alpha_next * phi_2 * (x0 - x0_1) / (h_1 / h)
    history.append((x0, h))
    del history[:-2]
    return out + state["noise_between"](x, sigma, sigma_next) * sigma_next * std, x0


def dpmpp_2s_ancestral(model, x, sigmas, i, state, eta: float = 1.0):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = _denoise(model, x, sigmas[i])
    down, up, scale = space.ancestral(sigma, sigma_next, eta)
    if down == 0.0:
        return x0, x0
    lam = space.lam(sigma)
    h = space.lam(down) - lam
    data = x0
    if math.isfinite(h):
        sigma_mid = space.midpoint(sigma, down)
        x_mid = (sigma_mid / sigma) * x - space.alpha(sigma_mid) * math.expm1(-h / 2) * x0
        data = _denoise(model, x_mid, torch.tensor(sigma_mid, dtype=torch.float32))
    out = (down / sigma) * x - space.alpha(down) * math.expm1(-h) * data
    return scale * out + up * state["noise"](x), x0


def _res_multistep(model, x, sigmas, i, state, eta: float):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = _denoise(model, x, sigmas[i])
    down, up, scale = space.ancestral(sigma, sigma_next, eta)
    previous = state.get("previous")  # (x0, lambda where it was evaluated, lambda the step went down to)
    lam = space.lam(sigma)
    state["previous"] = (x0, lam, space.lam(down))
    if down == 0.0 or previous is None:  # Euler
        out = x + (x - x0) / sigma * (down - sigma)
    else:
        h = space.lam(down) - lam
        c2 = (previous[1] - previous[2]) / h
        phi_1 = math.expm1(-h) / -h
        phi_2 = (phi_1 - 1.0) / -h
        b2 = phi_2 / c2 if math.isfinite(c2) else 0.0
        out = (down / sigma) * x + space.alpha(down) * h * ((phi_1 - b2) * x0 + b2 * previous[0])
    if sigma_next > 0.0 and up > 0.0:
        out = scale * out + up * state["noise"](x)
    return out, x0


def res_multistep(model, x, sigmas, i, state):
    return _res_multistep(model, x, sigmas, i, state, eta=0.0)


def res_multistep_ancestral(model, x, sigmas, i, state):
    return _res_multistep(model, x, sigmas, i, state, eta=1.0)
