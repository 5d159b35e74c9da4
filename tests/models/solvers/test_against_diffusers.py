"""The shared samplers against the diffusers schedulers that implement the same rule, on the same sigmas
with the same stand-in model: UniPC (VE and rectified flow), dpmpp_sde with the same Brownian tree,
dpm_2_ancestral and dpmpp_2m_sde with the same noise draws."""
from __future__ import annotations

import pytest
import torch

from models.solvers import FLOW, VE, sample
from models.stable_diffusion.configs import variant_settings
from models.stable_diffusion.schedule import DiscreteSchedule

COMMON = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="linspace")
STEPS = 7
WEIGHTS = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def table() -> DiscreteSchedule:
    return DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"])


def eps(scaled: torch.Tensor) -> torch.Tensor:
    """A fixed nonlinear stand-in for the U-Net (it ignores the timestep: some schedulers round it)."""
    return torch.tanh(torch.einsum("ij,bjhw->bihw", WEIGHTS, scaled))


def derivative(x, sigma):
    return eps(x / (float(sigma) ** 2 + 1) ** 0.5)


def run_diffusers(scheduler, noise, first_sigma: float, generator=None, variance_preserving=False):
    x = noise if variance_preserving else noise * (1 + first_sigma ** 2) ** 0.5
    for t in scheduler.timesteps:
        extra = {"generator": generator} if generator is not None else {}
        x = scheduler.step(eps(scheduler.scale_model_input(x, t)), t, x, **extra).prev_sample
    return x


def relative_error(ours: torch.Tensor, expected: torch.Tensor) -> float:
    return float((ours - expected).abs().max() / expected.abs().max())


def start(table, sigmas, noise):
    return table.noise(float(sigmas[0]), noise, torch.zeros_like(noise))


@pytest.mark.parametrize("sampler,variant", [("uni_pc", "bh1"), ("uni_pc_bh2", "bh2")])
def test_unipc_matches_diffusers_on_karras_sigmas(table, sampler, variant):
    from diffusers import UniPCMultistepScheduler

    """diffusers' bh1 step to sigma 0 gives NaN (B(h) = h is infinite there), so bh1 ends on 0.001."""
    scheduler = UniPCMultistepScheduler(**COMMON, use_karras_sigmas=True, solver_order=3, solver_type=variant,
                                        predict_x0=True, lower_order_final=True, final_sigmas_type="zero")
    scheduler.set_timesteps(STEPS)
    sigmas = table.schedule("karras", STEPS)
    assert torch.allclose(scheduler.sigmas, sigmas, rtol=1e-5)
    if variant == "bh1":
        sigmas[-1] = 0.001
        scheduler.sigmas = sigmas.clone()
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = run_diffusers(scheduler, noise, float(sigmas[0]), variance_preserving=True)
    expected = expected * (1 + float(sigmas[-1]) ** 2) ** 0.5  # VP -> VE at the last sigma
    ours = sample(derivative, start(table, sigmas, noise), sigmas, sampler, space=VE)
    assert relative_error(ours, expected) < 1e-5
    first_order = sample(derivative, start(table, sigmas, noise), sigmas, "dpm_2_ancestral", space=VE,
                         noise=torch.zeros_like)
    assert relative_error(first_order, expected) > 1e-3  # the comparison can fail


@pytest.mark.parametrize("sampler,variant", [("uni_pc_bh2", "bh2"), ("uni_pc", "bh1")])
def test_unipc_matches_diffusers_flow_matching(sampler, variant):
    """Rectified flow: UniPCMultistepScheduler with flow sigmas and velocity prediction, from sigma 1."""
    from diffusers import UniPCMultistepScheduler

    scheduler = UniPCMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0,
                                        solver_order=3, solver_type=variant, final_sigmas_type="zero")
    scheduler.set_timesteps(STEPS)
    sigmas = scheduler.sigmas.clone()
    if variant == "bh1":  # B(h) = h is infinite from sigma 1 and to sigma 0: start and end just inside
        sigmas[0], sigmas[-1] = 0.99, 0.001
        scheduler.sigmas = sigmas.clone()
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    x = noise
    for t in scheduler.timesteps:
        x = scheduler.step(eps(x), t, x).prev_sample
    ours = sample(lambda x_in, sigma: eps(x_in), noise, sigmas, sampler, space=FLOW)
    assert relative_error(ours, x) < 1e-5


# diffusers' own tree (the reference) queries float32 sigmas against its float64 ends; Plexus's does not warn
@pytest.mark.filterwarnings("ignore:Should have ta>=t0:UserWarning")
def test_dpmpp_sde_matches_dpm_solver_sde_with_the_same_brownian_tree(table):
    from diffusers import DPMSolverSDEScheduler

    scheduler = DPMSolverSDEScheduler(**COMMON, use_karras_sigmas=True, noise_sampler_seed=123)
    scheduler.set_timesteps(STEPS)
    sigmas = table.schedule("karras", STEPS)
    assert torch.allclose(scheduler.sigmas.unique().flip(0)[:STEPS], sigmas[:STEPS], rtol=1e-5)
    # the tree spans [smallest, largest] sigma: take diffusers' float rounding of the karras sigmas
    sigmas = torch.cat([scheduler.sigmas.unique().flip(0)[:STEPS], torch.zeros(1)])
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    expected = run_diffusers(scheduler, noise, float(sigmas[0]))
    ours = sample(derivative, start(table, sigmas, noise), sigmas, "dpmpp_sde", space=VE, seed=123)
    assert relative_error(ours, expected) < 1e-5
    other_seed = sample(derivative, start(table, sigmas, noise), sigmas, "dpmpp_sde", space=VE, seed=124)
    assert relative_error(other_seed, expected) > 1e-2


def test_dpm_2_ancestral_matches_kdpm2_ancestral_with_the_same_noise(table):
    from diffusers import KDPM2AncestralDiscreteScheduler

    scheduler = KDPM2AncestralDiscreteScheduler(**COMMON, use_karras_sigmas=True)
    scheduler.set_timesteps(STEPS)
    sigmas = table.schedule("karras", STEPS)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    expected = run_diffusers(scheduler, noise, float(sigmas[0]), generator=torch.Generator().manual_seed(9))
    generator = torch.Generator().manual_seed(9)
    ours = sample(derivative, start(table, sigmas, noise), sigmas, "dpm_2_ancestral", space=VE,
                  noise=lambda like: torch.randn(like.shape, generator=generator))
    assert relative_error(ours, expected) < 1e-5
