"""Rectified-flow samplers and noise schedules for SD3.

Conventions (diffusers' flow matching): ``x_sigma = (1 - sigma) * x0 + sigma * noise``, the model
predicts the velocity ``v = noise - x0``, so ``x0 = x - sigma * v``. The model's timestep is
``sigma * 1000``. ``shift`` warps model time: ``sigma(t) = shift * t / (1 + (shift - 1) * t)``.

Samplers: ``euler`` (diffusers' FlowMatchEulerDiscreteScheduler step), ``euler_ancestral``
(renoises to the next sigma from a lower one), ``heun`` (2nd order, trapezoid on v),
``dpmpp_2m`` (DPM-Solver++(2M) in data prediction with alpha = 1 - sigma), ``lcm`` (to the x0
prediction, then fresh noise up to the next sigma).

Schedules (all end with sigma 0):

- ``simple``: model time ``1, 1 - 1/N, ..., 1/N``;
- ``normal``: evenly spaced from the model's largest to its smallest sigma, exactly as diffusers'
  ``FlowMatchEulerDiscreteScheduler.set_timesteps(N)`` (so ``euler`` + ``normal`` reproduces
  ``StableDiffusion3Pipeline``);
- ``sgm_uniform``: N+1 evenly spaced model times from 1 to the smallest, the last dropped;
- ``beta``: the model's sigma table at the quantiles of a Beta(0.6, 0.6) distribution (denser at both
  ends; see :func:`beta_sigmas`);
- ``karras``: from the largest to the smallest sigma evenly in ``sigma ** (1/7)``;
- ``exponential``: from the largest to the smallest sigma evenly in ``log sigma``;
- ``ddim_uniform``: every ``1000 // N``-th entry of the sigma table from the second upwards, reversed;
- ``beta57``: ``beta`` with Beta(0.5, 0.7); ``kl_optimal``, ``linear_quadratic``: ``models/sigma_schedules.py``.

The denoiser hook (how ControlNet and IP-Adapter plug in) lives in ``models/sd3/denoiser.py``:
``SD3Denoiser(model, positive, negative, cfg, manager)`` is the per-step model call. It batches
CFG in one forward pass and, per step,

- gathers ControlNet residuals from the conditioning extras: each conditioning entry's
  ``extras["control"]`` (one object or a list) is asked ``residuals(step)`` -> list of tensors
  (``block_controlnet_hidden_states``) or None, only while ``step.percent`` lies in the object's
  ``[start_percent, end_percent]`` (when it has those attributes). When every entry of a batch
  carries the same hints (ControlNet applied to positive and negative), one call serves the whole
  CFG batch. A hint may also define ``prepare(transformer, latent_shape, device, dtype, warn,
  manager)``, called once before the first step (fit checks, encoding the hint image);
- passes ``joint_attention_kwargs`` from the MODEL's patches: each patch in ``model.patches`` may
  define ``joint_attention_kwargs(step) -> dict`` and ``apply(transformer)``, a context manager
  held for the whole sampling run (e.g. to install attention processors on the transformer).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from models.sigma_schedules import ddim_uniform, kl_optimal, linear_quadratic
from models.solvers import FLOW, RULES, run_steps
from models.solvers import sample as sample_in_space

# and every name of models/solvers RULES
SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2m", "lcm", "ddim", "dpm_2", "lms", "deis")
SCHEDULERS = ("simple", "sgm_uniform", "normal", "beta", "karras", "exponential", "ddim_uniform", "linear_quadratic",
              "kl_optimal", "beta57")
KARRAS_RHO = 7.0
TRAIN_TIMESTEPS = 1000

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, sigma) -> v
StepCallback = Callable[[int, int, torch.Tensor, torch.Tensor], None]  # (step, total, x, x0)


def shift_sigma(t, shift: float):
    return shift * t / (1 + (shift - 1) * t)


def unshift_sigma(sigma: float, shift: float) -> float:
    """Model time of a sigma (inverse of :func:`shift_sigma`)."""
    return sigma / (shift - (shift - 1) * sigma)


def sigma_range(shift: float) -> tuple[float, float]:
    """(largest, smallest) sigma of the model's 1000-step table, computed as diffusers does (float32)."""
    table = torch.from_numpy(np.linspace(1, TRAIN_TIMESTEPS, TRAIN_TIMESTEPS, dtype=np.float32)[::-1].copy())
    sigmas = shift_sigma(table / TRAIN_TIMESTEPS, shift)
    return sigmas[0].item(), sigmas[-1].item()


def percent_to_sigma(percent: float, shift: float) -> float:
    """Sigma at a fraction of the way through sampling (0 = start, pure noise; 1 = end)."""
    if percent <= 0.0:
        return 1.0
    if percent >= 1.0:
        return 0.0
    return float(shift_sigma(1.0 - percent, shift))


def _beta_quantiles(q: np.ndarray, a: float = 0.6, b: float = 0.6) -> np.ndarray:
    from scipy.stats import beta as beta_distribution

    return beta_distribution.ppf(q, a, b)


def sigma_table(shift: float) -> torch.Tensor:
    """The model's 1000 sigmas, ascending (entry i is model time (i + 1) / 1000)."""
    times = torch.arange(1, TRAIN_TIMESTEPS + 1, dtype=torch.float64) / TRAIN_TIMESTEPS
    return shift_sigma(times, shift).to(torch.float32)


def beta_sigmas(steps: int, shift: float, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """BetaSamplingScheduler: the quantiles ``1 - k/steps`` through the Beta(alpha, beta) inverse CDF,
    scaled to the sigma table's indices and rounded, consecutive duplicates dropped, then 0."""
    table = sigma_table(shift)
    quantiles = 1.0 - np.arange(steps) / steps
    indices = np.rint(_beta_quantiles(quantiles, alpha, beta) * (len(table) - 1)).astype(np.int64)
    kept = [int(i) for k, i in enumerate(indices) if k == 0 or i != indices[k - 1]]
    return torch.cat([table[kept], torch.zeros(1)])


def schedule(name: str, steps: int, shift: float) -> torch.Tensor:
    """``steps + 1`` float32 sigmas from 1 (or near it) down to 0."""
    if steps <= 0:
        return torch.zeros(0)
    sigma_max, sigma_min = sigma_range(shift)
    if name == "normal":
        times = np.linspace(sigma_max * TRAIN_TIMESTEPS, sigma_min * TRAIN_TIMESTEPS, steps) / TRAIN_TIMESTEPS
        sigmas = torch.from_numpy(shift_sigma(times, shift)).to(torch.float32)
    elif name == "simple":
        times = np.linspace(1.0, 1.0 / steps, steps).astype(np.float32)
        sigmas = torch.from_numpy(shift_sigma(times, shift)).to(torch.float32)
    elif name == "sgm_uniform":
        times = np.linspace(1.0, sigma_min, steps + 1)[:-1]
        sigmas = torch.from_numpy(shift_sigma(times, shift)).to(torch.float32)
    elif name == "beta":
        return beta_sigmas(steps, shift)
    elif name == "beta57":
        return beta_sigmas(steps, shift, 0.5, 0.7)
    elif name == "ddim_uniform":
        sigmas = ddim_uniform(sigma_table(shift), steps)
    elif name == "kl_optimal":
        return kl_optimal(steps, sigma_min, sigma_max)
    elif name == "linear_quadratic":
        return linear_quadratic(steps, sigma_max)
    elif name == "karras":  # Karras et al. (2022): evenly spaced in sigma ** (1 / rho)
        ramp = np.linspace(0.0, 1.0, steps)
        top, bottom = sigma_max ** (1 / KARRAS_RHO), sigma_min ** (1 / KARRAS_RHO)
        sigmas = torch.from_numpy((top + ramp * (bottom - top)) ** KARRAS_RHO).to(torch.float32)
    elif name == "exponential":  # evenly spaced in log sigma
        sigmas = torch.from_numpy(np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), steps))).to(
            torch.float32)
    else:
        raise ValueError(f"unknown scheduler {name!r}; expected one of {', '.join(SCHEDULERS)}")
    return torch.cat([sigmas, torch.zeros(1)])


# -- samplers ---------------------------------------------------------------------------------------
def _step_euler(model: Velocity, x, sigmas, i, state):
    v = model(x, sigmas[i])
    x0 = x - sigmas[i] * v
    return x + (sigmas[i + 1] - sigmas[i]) * v, x0


def _step_heun(model: Velocity, x, sigmas, i, state):
    sigma, sigma_next = sigmas[i], sigmas[i + 1]
    v = model(x, sigma)
    x0 = x - sigma * v
    predicted = x + (sigma_next - sigma) * v
    if float(sigma_next) == 0.0:
        return predicted, x0
    v_next = model(predicted, sigma_next)
    return x + (sigma_next - sigma) * (v + v_next) / 2, x0


def _step_euler_ancestral(model: Velocity, x, sigmas, i, state, eta: float = 1.0):
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    v = model(x, sigmas[i])
    x0 = x - sigma * v
    if sigma_next == 0.0:
        return x0, x0
    # Go deterministically to a lower sigma_down, then add fresh noise back up to sigma_next while
    # keeping the marginal (1 - s) * x0 + s * noise: alpha_ratio * s_down and the new noise add in
    # quadrature to sigma_next.
    sigma_down = sigma_next * (1 - eta) + eta * sigma_next * sigma_next / sigma
    noise_estimate = (x - (1 - sigma) * x0) / sigma
    x_down = (1 - sigma_down) * x0 + sigma_down * noise_estimate
    alpha_ratio = (1 - sigma_next) / (1 - sigma_down)
    renoise = math.sqrt(max(sigma_next ** 2 - (alpha_ratio * sigma_down) ** 2, 0.0))
    fresh = torch.randn(x.shape, generator=state["generator"], dtype=torch.float32).to(x.device, x.dtype)
    return alpha_ratio * x_down + renoise * fresh, x0


def _lambda(sigma: float) -> float:
    """log(alpha / sigma) with alpha = 1 - sigma (−inf at sigma 1, +inf at sigma 0)."""
    if sigma >= 1.0:
        return -math.inf
    if sigma <= 0.0:
        return math.inf
    return math.log((1 - sigma) / sigma)


def _step_dpmpp_2m(model: Velocity, x, sigmas, i, state):
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    v = model(x, sigmas[i])
    x0 = x - sigma * v
    previous = state.get("previous")  # (x0, lambda) of the last step
    state["previous"] = (x0, _lambda(sigma))
    if sigma_next == 0.0:
        return x0, x0
    lam, lam_next = _lambda(sigma), _lambda(sigma_next)
    h = lam_next - lam
    # exp(-h) = (alpha / sigma) * (sigma_next / alpha_next); finite even when sigma == 1 (alpha 0).
    decay = ((1 - sigma) / sigma) * (sigma_next / (1 - sigma_next))
    data = x0
    if previous is not None and math.isfinite(previous[1]) and math.isfinite(h):
        r = (lam - previous[1]) / h
        data = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous[0]
    return (sigma_next / sigma) * x + (1 - sigma_next) * (1 - decay) * data, x0


def _step_lcm(model: Velocity, x, sigmas, i, state):
    """Latent-consistency sampling: jump to the predicted x0, then re-noise it to the next sigma."""
    sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
    x0 = x - sigma * model(x, sigmas[i])
    if sigma_next == 0.0:
        return x0, x0
    fresh = torch.randn(x.shape, generator=state["generator"], dtype=torch.float32).to(x.device, x.dtype)
    return sigma_next * fresh + (1.0 - sigma_next) * x0, x0


_STEPS = {"euler": _step_euler, "lcm": _step_lcm, "heun": _step_heun, "euler_ancestral": _step_euler_ancestral,
          "dpmpp_2m": _step_dpmpp_2m}


def sample(model: Velocity, x: torch.Tensor, sigmas: torch.Tensor, sampler_name: str, *, seed: int = 0,
           callback: StepCallback | None = None,
           noise: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Integrate from ``sigmas[0]`` to ``sigmas[-1]``. ``callback(step, total, x, x0)`` runs after
    every step (progress, preview, interrupt). Names shared with every family run from
    ``models/solvers/`` in the flow space; ``ddim`` is ``euler``, and ``dpm_2``/``lms``/``deis`` are the
    derivative-only rules of ``models/stable_diffusion/k_samplers.py`` on the velocity. ``noise(like)``
    replaces the shared samplers' noise draws (tests)."""
    if sampler_name in RULES:
        return sample_in_space(model, x, sigmas, sampler_name, space=FLOW, seed=seed, callback=callback, noise=noise)
    if sampler_name == "ddim":
        sampler_name = "euler"
    if sampler_name in ("dpm_2", "lms", "deis"):
        from models.stable_diffusion.k_samplers import sample as sample_on_derivative

        return sample_on_derivative(model, x, sigmas, sampler_name, seed=seed, callback=callback)
    if sampler_name not in _STEPS:
        raise ValueError(f"unknown sampler {sampler_name!r}; expected one of {', '.join((*SAMPLERS, *RULES))}")
    state: dict = {"generator": torch.Generator("cpu").manual_seed((seed + 1) % (1 << 64))}
    return run_steps(_STEPS[sampler_name], model, x, sigmas, state, callback)
