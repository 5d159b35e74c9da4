"""ER-SDE-Solver-3 (Cui et al. 2023, "Elucidating the solution space of extended reverse-time SDEs",
arXiv 2309.06169) as ComfyUI's ``er_sde`` uses it: the VP extended reverse-time SDE in the variable
``e = sigma / alpha`` with the noise scale function ``f(e) = e * (exp(e ** 0.3) + 10)``, stages 1 to 3
(Taylor terms of the data prediction in ``e``), the integrals of ``1 / f`` by a 200-point Riemann sum,
and fresh Gaussian noise each step.

From a flow model's sigma 1 (alpha 0, ``e`` infinite) the first step is its exact limit: the data
prediction plus fresh noise at sigma_next (ComfyUI nudges that first sigma to just below 1 instead).
"""
from __future__ import annotations

import math

import torch

INTEGRATION_POINTS = 200
MAX_STAGE = 3


def _scale(e):
    return e * (math.exp(e ** 0.3) + 10.0) if isinstance(e, float) else e * ((e ** 0.3).exp() + 10.0)


def _e(space, sigma: float) -> float:
    alpha = space.alpha(sigma)
    return sigma / alpha if alpha > 0 else math.inf


def er_sde(model, x, sigmas, i, state):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = x - sigma * model(x, sigmas[i])
    memo = state.setdefault("er_sde", {"x0": None, "d": None, "e": []})
    e_s, e_t = _e(space, sigma), _e(space, sigma_next)
    stage = min(MAX_STAGE, i + 1)
    if sigma_next == 0.0:
        out = x0
    elif math.isinf(e_s):
        out = space.alpha(sigma_next) * x0 + sigma_next * state["noise"](x)
    else:
        alpha_s, alpha_t = space.alpha(sigma), space.alpha(sigma_next)
        r = _scale(e_t) / _scale(e_s)
        out = (alpha_t / alpha_s) * r * x + alpha_t * (1 - r) * x0
        if stage >= 2:
            dt = e_t - e_s
            step = -dt / INTEGRATION_POINTS
            positions = e_t + torch.arange(INTEGRATION_POINTS, dtype=torch.float64) * step
            scaled = _scale(positions)
            d = (x0 - memo["x0"]) / (e_s - memo["e"][-1])
            out = out + alpha_t * (dt + float((1 / scaled).sum()) * step * _scale(e_t)) * d
            if stage >= 3:
                s_u = float(((positions - e_s) / scaled).sum()) * step
                u = (d - memo["d"]) / ((e_s - memo["e"][-2]) / 2)
                out = out + alpha_t * (dt ** 2 / 2 + s_u * _scale(e_t)) * u
            memo["d"] = d
        out = out + alpha_t * math.sqrt(max(e_t ** 2 - (e_s * r) ** 2, 0.0)) * state["noise"](x)
    memo["x0"] = x0
    memo["e"] = (memo["e"] + [e_s])[-2:]
    return out, x0
