"""Every shared sampler against the exact solution for Gaussian data, in both noise spaces. For
``x0 ~ N(0, c^2)`` the ideal denoiser is linear and known in closed form, the probability-flow ODE
scales each sample by the ratio of the marginal standard deviations, and an SDE/ancestral sampler must
end with standard deviation ``c``. This checks the published formulas independently of any library
(and the flow-space versions, which no library implements in ComfyUI's form)."""
from __future__ import annotations

import math

import pytest
import torch

from models.samplers import sample as flow_sample
from models.samplers import schedule as flow_schedule
from models.stable_diffusion.k_samplers import sample as ve_sample
from models.solvers import FLOW, RULES, VE, sample

C = 0.5
DETERMINISTIC = ("uni_pc", "uni_pc_bh2", "res_multistep", "ipndm", "gradient_estimation", "deis")
STOCHASTIC = ("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde", "dpmpp_2s_ancestral", "dpm_2_ancestral",
              "res_multistep_ancestral", "er_sde")


def marginal_std(space, sigma: float) -> float:
    return math.sqrt((space.alpha(sigma) * C) ** 2 + sigma ** 2)


def ideal_model(space):
    def derivative(x, sigma):
        sigma = float(sigma)
        x0 = space.alpha(sigma) * C ** 2 / marginal_std(space, sigma) ** 2 * x
        return (x - x0) / sigma
    return derivative


def sigmas_for(space, steps: int) -> torch.Tensor:
    if space is FLOW:
        return flow_schedule("simple", steps, 3.0)  # starts at sigma 1: pure noise
    ramp = torch.linspace(0, 1, steps)
    top, bottom = 14.6 ** (1 / 7), 0.03 ** (1 / 7)
    return torch.cat([(top + ramp * (bottom - top)) ** 7, torch.zeros(1)])


def run(space, start, sigmas, name, **options):
    """A shared sampler, or (deis) the family's own rules."""
    if name in RULES:
        return sample(ideal_model(space), start, sigmas, name, space=space, **options)
    own = flow_sample if space is FLOW else ve_sample
    return own(ideal_model(space), start, sigmas, name)


def test_every_shared_sampler_is_covered():
    assert set(DETERMINISTIC) | set(STOCHASTIC) == {name for name in RULES if not name.endswith("_gpu")} | {"deis"}


@pytest.mark.parametrize("space", [VE, FLOW], ids=["ve", "flow"])
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_follow_the_exact_flow(space, name):
    sigmas = sigmas_for(space, 24)
    start = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    start = start * marginal_std(space, float(sigmas[0]))
    exact = start * C / marginal_std(space, float(sigmas[0]))
    model = ideal_model(space)
    error = (run(space, start, sigmas, name) - exact).abs().max() / exact.abs().max()
    euler = start
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        euler = euler + model(euler, sigma) * (sigma_next - sigma)
    euler_error = (euler - exact).abs().max() / exact.abs().max()
    if name == "gradient_estimation":  # Euler with a gradient correction: better than Euler, not higher order
        assert error < euler_error * 0.8
    else:
        assert error < 0.035 and error < euler_error / 3.5  # higher order than Euler


@pytest.mark.parametrize("space", [VE, FLOW], ids=["ve", "flow"])
@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_end_on_the_data_distribution(space, name):
    """Many steps (the SDE samplers are weakly first order). Independent Gaussian increments stand in for
    the (slow) Brownian tree, except for dpmpp_sde, whose two draws per step must be one path's."""
    if name == "dpmpp_sde":
        sigmas = sigmas_for(space, 64)
        start = torch.randn(1, 1, 50, 100, generator=torch.Generator().manual_seed(1))
        start = start * marginal_std(space, float(sigmas[0]))
        out = sample(ideal_model(space), start, sigmas, name, space=space, seed=5)
    else:
        sigmas = sigmas_for(space, 128)
        start = torch.randn(1, 1, 100, 200, generator=torch.Generator().manual_seed(1))
        generator = torch.Generator().manual_seed(5)
        out = sample(ideal_model(space), start * marginal_std(space, float(sigmas[0])), sigmas, name, space=space,
                     noise=lambda like: torch.randn(like.shape, generator=generator))
    assert abs(float(out.std()) - C) < 0.03 * C and abs(float(out.mean())) < 0.02


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_are_deterministic_per_seed(name):
    sigmas = sigmas_for(FLOW, 6)
    start = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    runs = [sample(ideal_model(FLOW), start, sigmas, name, space=FLOW, seed=seed) for seed in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1]) and (runs[2] - runs[0]).abs().max() > 0.05


def test_a_flow_sigma_above_one_is_a_clear_error():
    with pytest.raises(ValueError, match="above 1"):
        sample(ideal_model(FLOW), torch.zeros(1, 1, 2, 2), torch.tensor([1.5, 0.5, 0.0]), "uni_pc", space=FLOW)
