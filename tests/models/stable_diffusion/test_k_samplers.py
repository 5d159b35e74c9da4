"""Each eps sampler and schedule against the diffusers scheduler that implements the same formula, on
the same sigmas with the same stand-in model (a fixed nonlinear eps function of the scaled input and
the timestep): the step rules, the input scaling, the sigma -> timestep map and the first noise."""
from __future__ import annotations

import pytest
import torch

from models.stable_diffusion.configs import variant_settings
from models.stable_diffusion.k_samplers import sample
from models.stable_diffusion.schedule import DiscreteSchedule

COMMON = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="linspace")
STEPS = 6


@pytest.fixture(scope="module")
def table() -> DiscreteSchedule:
    return DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"])


def stand_in(uses_timestep: bool = True):
    weights = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))

    def eps(scaled: torch.Tensor, timestep) -> torch.Tensor:
        out = torch.tanh(torch.einsum("ij,bjhw->bihw", weights, scaled))
        return out + 0.001 * float(timestep) if uses_timestep else out
    return eps


def run_diffusers(scheduler, eps, noise, first_sigma: float, generator=None, variance_preserving=False):
    # ComfyUI's first latent at the top sigma; the VP solvers start from the noise itself (the same point)
    x = noise if variance_preserving else noise * (1 + first_sigma ** 2) ** 0.5
    for t in scheduler.timesteps:
        extra = {"generator": generator} if generator is not None else {}
        x = scheduler.step(eps(scheduler.scale_model_input(x, t), t), t, x, **extra).prev_sample
    return x


def run_ours(table, sigmas, sampler, eps, noise, draw=None) -> torch.Tensor:
    def derivative(x, sigma):
        return eps(x / (sigma ** 2 + 1) ** 0.5, table.sigma_to_t(sigma))
    start = table.noise(sigmas[0], noise, torch.zeros_like(noise))
    return sample(derivative, start, sigmas, sampler, noise=draw)


@pytest.mark.parametrize("sampler,scheduler_class,schedule", [
    ("euler", "EulerDiscreteScheduler", "karras"), ("heun", "HeunDiscreteScheduler", "karras"),
    ("lms", "LMSDiscreteScheduler", "karras"), ("dpm_2", "KDPM2DiscreteScheduler", "karras"),
    ("heun", "HeunDiscreteScheduler", "exponential"), ("euler", "EulerDiscreteScheduler", "exponential")])
def test_sampler_matches_diffusers_scheduler(table, sampler, scheduler_class, schedule):
    import diffusers

    flag = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas"}[schedule]
    scheduler = getattr(diffusers, scheduler_class)(**COMMON, **{flag: True})
    scheduler.set_timesteps(STEPS)
    sigmas = table.schedule(schedule, STEPS)
    assert torch.allclose(scheduler.sigmas.unique().flip(0)[:STEPS], sigmas[:STEPS], rtol=1e-5)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    eps = stand_in(uses_timestep=sampler != "dpm_2")  # KDPM2DiscreteScheduler rounds some timesteps
    expected = run_diffusers(scheduler, eps, noise, float(sigmas[0]))
    assert (run_ours(table, sigmas, sampler, eps, noise) - expected).abs().max() < 1e-3, \
        (run_ours(table, sigmas, sampler, eps, noise) - expected).abs().max()


def test_dpmpp_2m_matches_dpm_solver_multistep(table):
    """DPMSolverMultistepScheduler hands the model integer timesteps, so the stand-in ignores them."""
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(**COMMON, use_exponential_sigmas=True, solver_order=2,
                                            algorithm_type="dpmsolver++", final_sigmas_type="zero")
    scheduler.set_timesteps(STEPS)
    sigmas = table.schedule("exponential", STEPS)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    eps = stand_in(uses_timestep=False)
    # diffusers works on the VP latent x / sqrt(1 + sigma^2); at sigma 0 both are the image
    expected = run_diffusers(scheduler, eps, noise, float(sigmas[0]), variance_preserving=True)
    assert (run_ours(table, sigmas, "dpmpp_2m", eps, noise) - expected).abs().max() < 1e-3


def test_euler_ancestral_matches_with_the_same_noise_draws(table):
    from diffusers import EulerAncestralDiscreteScheduler

    scheduler = EulerAncestralDiscreteScheduler(**COMMON)
    sigmas = table.schedule("normal", STEPS)
    scheduler.set_timesteps(STEPS)
    assert torch.allclose(scheduler.sigmas, sigmas, rtol=1e-4)  # linspace timesteps == ComfyUI's normal
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    eps = stand_in()
    expected = run_diffusers(scheduler, eps, noise, float(sigmas[0]), generator=torch.Generator().manual_seed(9))
    generator = torch.Generator().manual_seed(9)
    ours = run_ours(table, sigmas, "euler_ancestral", eps, noise,
                    draw=lambda like: torch.randn(like.shape, generator=generator))
    assert (ours - expected).abs().max() < 1e-3


def test_schedules_follow_their_formulas(table):
    sigmas = table.sigmas
    assert torch.equal(table.schedule("simple", 4)[:-1], sigmas[[-1, -251, -501, -751]])
    assert torch.equal(table.schedule("ddim_uniform", 4)[:-1], sigmas[[751, 501, 251, 1]])
    karras = table.schedule("karras", 5)
    assert karras[0] == pytest.approx(table.sigma_max, rel=1e-5) and karras[-2] == pytest.approx(table.sigma_min)
    normal = table.schedule("normal", 5)
    assert table.sigma_to_t(normal[:-1]).tolist() == pytest.approx([999, 749.25, 499.5, 249.75, 0], abs=1e-2)
    assert len(table.schedule("sgm_uniform", 5)) == 6 and table.schedule("sgm_uniform", 5)[-2] > normal[-2]
    beta = table.schedule("beta", 8)
    assert torch.all(beta[:-2] > beta[1:-1]) and beta[-1] == 0
    for name in ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"):
        assert table.schedule(name, 7)[-1] == 0
    with pytest.raises(ValueError, match="unknown scheduler"):
        table.schedule("nope", 3)


def test_dpmpp_2m_sde_matches_sde_dpm_solver_with_the_same_noise(table):
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(**COMMON, use_exponential_sigmas=True, solver_order=2,
                                            algorithm_type="sde-dpmsolver++", final_sigmas_type="zero")
    scheduler.set_timesteps(STEPS)
    sigmas = table.schedule("exponential", STEPS)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    eps = stand_in(uses_timestep=False)
    expected = run_diffusers(scheduler, eps, noise, float(sigmas[0]), generator=torch.Generator().manual_seed(11),
                             variance_preserving=True)
    generator = torch.Generator().manual_seed(11)
    ours = run_ours(table, sigmas, "dpmpp_2m_sde", eps, noise,
                    draw=lambda like: torch.randn(like.shape, generator=generator))
    assert (ours - expected).abs().max() < 1e-3
