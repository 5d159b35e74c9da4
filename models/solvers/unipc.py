"""UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework"), data prediction, in the
half-log-SNR ``lambda`` of the model's :class:`~models.solvers.space.NoiseSpace`.

``uni_pc`` is the B(h) = h variant ("bh1"), ``uni_pc_bh2`` the B(h) = e^h - 1 variant, both of order 3
with lower orders while the history fills up and on the last steps (the step to sigma 0 is order 1,
so it lands on the model's x0 prediction). Each step first corrects the previous prediction with the
new model output (UniC), then predicts the next point (UniP): one model call per step.

This is diffusers' ``UniPCMultistepScheduler(solver_order=3, predict_x0=True, lower_order_final=True)``
on the same sigmas (tested against it). ComfyUI replaces a final sigma of 0 by 0.001, which leaves
``0.001 * noise`` in its result; Plexus ends on sigma 0 exactly, as diffusers does.
"""
from __future__ import annotations

import math

import numpy as np
import torch

ORDER = 3


def _coefficients(rks: list[float], hh: float, variant: str, order: int) -> tuple[np.ndarray, np.ndarray, float]:
    """R (powers of the step ratios), b (the phi-function moments over B(h)) and B(h)."""
    b_h = hh if variant == "bh1" else math.expm1(hh)
    h_phi_k = math.expm1(hh) / hh - 1.0
    factorial = 1
    rows, moments = [], []
    for k in range(1, order + 1):
        rows.append([r ** (k - 1) for r in rks])
        moments.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    return np.array(rows, dtype=np.float64), np.array(moments, dtype=np.float64), b_h


def _update(space, x, history, sigma_s: float, sigma_t: float, order: int, variant: str,
            corrector_x0: torch.Tensor | None = None) -> torch.Tensor:
    """UniP (``corrector_x0`` None) or UniC from ``x`` at ``sigma_s`` to ``sigma_t``. ``history`` ends with
    (x0, lambda) at ``sigma_s``; earlier entries give the differences of the higher orders."""
    m0, lam_s = history[-1]
    h = space.lam(sigma_t) - lam_s  # +inf to sigma 0, or from a flow model's sigma 1 (pure noise)
    alpha_t = space.alpha(sigma_t)
    if h == 0.0:
        return x
    hh = -h
    base = (sigma_t / sigma_s) * x - alpha_t * math.expm1(hh) * m0
    if math.isinf(h) and (variant == "bh1" or corrector_x0 is None):
        return base  # the first-order step is exact here, and B(h) = h has no finite correction
    rks, differences = [], []
    for m_i, lam_i in reversed(history[-order:-1]):
        rk = (lam_i - lam_s) / h
        rks.append(rk)
        differences.append((m_i - m0) / rk)
    rks.append(1.0)
    rows, moments, b_h = _coefficients(rks, hh, variant, order)
    if corrector_x0 is None:
        if not differences:
            return base
        rhos = [0.5] if order == 2 else np.linalg.solve(rows[:-1, :-1], moments[:-1]).tolist()
        return base - alpha_t * b_h * sum(rho * d for rho, d in zip(rhos, differences))
    rhos = [0.5] if order == 1 else np.linalg.solve(rows, moments).tolist()
    residual = rhos[-1] * (corrector_x0 - m0)
    for rho, d in zip(rhos[:-1], differences):
        residual = residual + rho * d
    return base - alpha_t * b_h * residual


def _step(model, x, sigmas, i, state, variant: str):
    space = state["space"]
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = x - sigma * model(x, sigmas[i])
    memo = state.setdefault("unipc", {"history": [], "last_x": None, "last_order": 0})
    history = memo["history"]
    if memo["last_x"] is not None:  # UniC: correct the previous prediction with this model output
        previous_sigma = float(sigmas[i - 1])
        x = _update(space, memo["last_x"], history, previous_sigma, sigma, memo["last_order"], variant,
                    corrector_x0=x0)
    history.append((x0, space.lam(sigma)))
    del history[:-ORDER]
    finite = sum(1 for _, lam in history if math.isfinite(lam))
    order = max(1, min(ORDER, len(sigmas) - 1 - i, len(history), finite))
    memo["last_x"], memo["last_order"] = x, order
    return _update(space, x, history, sigma, sigma_next, order, variant), x0


def uni_pc(model, x, sigmas, i, state):
    return _step(model, x, sigmas, i, state, "bh1")


def uni_pc_bh2(model, x, sigmas, i, state):
    return _step(model, x, sigmas, i, state, "bh2")
