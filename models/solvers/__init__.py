"""Samplers that serve every model family through its noise space (:mod:`models.solvers.space`):
UniPC, the SDE DPM-Solver++ family with Brownian-tree noise, the ancestral DPM samplers, RES, ER-SDE,
iPNDM and gradient estimation. ``models/stable_diffusion/k_samplers.py`` (VE) and ``models/samplers.py``
(rectified flow) hand every name of :data:`RULES` to :func:`sample` with their space.

A step rule is ``rule(model, x, sigmas, i, state) -> (x_next, x0)`` where ``model(x, sigma)`` returns
``(x - x0) / sigma`` and ``state`` holds ``space``, ``noise(like)`` (fresh Gaussian noise, seeded) and
``noise_between(like, sigma, sigma_next)`` (the Brownian-tree increment, seeded; see
:mod:`models.solvers.brownian`).
"""
from __future__ import annotations

from typing import Callable

import torch

from models.solvers.derivative import dpm_2_ancestral, gradient_estimation, ipndm
from models.solvers.er_sde import er_sde
from models.solvers.exponential import (dpmpp_2m_sde, dpmpp_2s_ancestral, dpmpp_3m_sde, dpmpp_sde, res_multistep,
                                        res_multistep_ancestral)
from models.solvers.space import FLOW, VE, NoiseSpace
from models.solvers.unipc import uni_pc, uni_pc_bh2

__all__ = ["FLOW", "VE", "NoiseSpace", "RULES", "run_steps", "sample", "seeded_noise"]

RULES = {
    "dpm_2_ancestral": dpm_2_ancestral, "dpmpp_2s_ancestral": dpmpp_2s_ancestral,
    "dpmpp_sde": dpmpp_sde, "dpmpp_sde_gpu": dpmpp_sde,
    "dpmpp_2m_sde": dpmpp_2m_sde, "dpmpp_2m_sde_gpu": dpmpp_2m_sde,
    "dpmpp_3m_sde": dpmpp_3m_sde, "dpmpp_3m_sde_gpu": dpmpp_3m_sde,
    "er_sde": er_sde, "gradient_estimation": gradient_estimation, "ipndm": ipndm,
    "res_multistep": res_multistep, "res_multistep_ancestral": res_multistep_ancestral,
    "uni_pc": uni_pc, "uni_pc_bh2": uni_pc_bh2,
}
Noise = Callable[[torch.Tensor], torch.Tensor]


def sample(model, x: torch.Tensor, sigmas: torch.Tensor, sampler_name: str, *, space: NoiseSpace, seed: int = 0,
           callback=None, noise: Noise | None = None) -> torch.Tensor:
    """Run the rule named ``sampler_name`` over ``sigmas``. ``noise(like)``, when given, replaces both
    noise sources (tests inject the reference's draws); by default ancestral noise comes from a CPU
    generator seeded with ``seed + 1`` and SDE noise from a Brownian tree seeded with ``seed``."""
    rule = RULES[sampler_name]
    if noise is None:
        noise = seeded_noise(seed)
        trees: list = []

        def noise_between(like, sigma, sigma_next):
            if not trees:
                from models.solvers.brownian import BrownianNoise

                trees.append(BrownianNoise(like, sigmas, seed))
            return trees[0](like, sigma, sigma_next)
    else:
        def noise_between(like, sigma, sigma_next):
            return noise(like)
    state: dict = {"space": space, "noise": noise, "noise_between": noise_between}
    return run_steps(rule, model, x, sigmas, state, callback)


def seeded_noise(seed: int) -> Noise:
    """Fresh Gaussian noise shaped like its argument, drawn in float32 from a CPU generator seeded
    with ``seed + 1`` (the same draws on every device), then moved to the argument's device and dtype."""
    generator = torch.Generator("cpu").manual_seed((int(seed) + 1) % (1 << 64))

    def noise(like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=generator, dtype=torch.float32).to(like.device, like.dtype)
    return noise


def run_steps(step: Callable, model: Callable, x: torch.Tensor, sigmas: torch.Tensor, state: dict,
              callback: Callable | None = None) -> torch.Tensor:
    """``step(model, x, sigmas, i, state) -> (x_next, x0)`` over every interval of ``sigmas``, with
    ``callback(step number, total, x, x0)`` after each: the loop every sampler family shares."""
    total = len(sigmas) - 1
    for i in range(total):
        x, x0 = step(model, x, sigmas, i, state)
        if callback is not None:
            callback(i + 1, total, x, x0)
    return x
