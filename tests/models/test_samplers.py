"""Samplers against hand-computed steps on toy models, schedules against their definitions, and CFG
batched in one forward pass."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.samplers import percent_to_sigma, sample, schedule


def scalar_model(x, sigma):
    """Toy velocity v = x * sigma."""
    return x * sigma


def run(sampler, sigmas, x0=2.0, seed=0):
    return sample(scalar_model, torch.tensor([x0]), torch.tensor(sigmas, dtype=torch.float32), sampler,
                  seed=seed).item()


def test_euler_hand_step():
    # x=2, sigma 1 -> 0.5: v = 2, x1 = 2 + (0.5 - 1) * 2 = 1
    assert run("euler", [1.0, 0.5]) == pytest.approx(1.0)


def test_heun_hand_step():
    # predictor x' = 1 (as euler); v' = 1 * 0.5; x1 = 2 - 0.5 * (2 + 0.5) / 2 = 1.375
    assert run("heun", [1.0, 0.5]) == pytest.approx(1.375)
    # to sigma 0 heun takes the plain euler step: x0 = 2 - 1 * 2 = 0
    assert run("heun", [1.0, 0.0]) == pytest.approx(0.0)


def test_dpmpp_2m_hand_steps():
    # sigmas 0.8 -> 0.5 -> 0.2 -> 0, worked by hand:
    # step 1 (first order): x0 = 2 - 0.8*1.6 = 0.72; x1 = (0.5/0.8)*2 + 0.5*(1 - 0.25)*0.72 = 1.52
    assert run("dpmpp_2m", [0.8, 0.5]) == pytest.approx(1.52)
    # step 2 (second order, r = 1): x0 = 1.14; D = 1.5*1.14 - 0.5*0.72 = 1.35; x2 = 0.4*1.52 + 0.8*0.75*1.35
    assert run("dpmpp_2m", [0.8, 0.5, 0.2]) == pytest.approx(1.418)
    # last step returns the data prediction: 1.418 - 0.2 * (1.418 * 0.2)
    assert run("dpmpp_2m", [0.8, 0.5, 0.2, 0.0]) == pytest.approx(1.36128)


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_exact_model_follows_the_straight_path(sampler):
    """With a perfect model for a fixed x0, deterministic samplers land on x_s = (1-s) x0 + s n."""
    x0, noise = torch.tensor([0.3, -1.2]), torch.tensor([1.5, 0.4])
    sigmas = schedule("simple", 5, 3.0)

    def perfect(x, sigma):
        return (x - x0) / sigma  # v = noise - x0 given x on the path

    result = sample(perfect, noise.clone(), sigmas, sampler)
    assert torch.allclose(result, x0, atol=1e-5)


def test_euler_ancestral_renoises_to_the_right_marginal():
    x0, noise = torch.tensor([0.5]), torch.tensor([1.0])
    s0, s1 = 0.8, 0.5
    x = (1 - s0) * x0 + s0 * noise
    got = sample(lambda x_, s: (x_ - x0) / s, x, torch.tensor([s0, s1]), "euler_ancestral", seed=3)
    fresh = torch.randn(1, generator=torch.Generator("cpu").manual_seed(4))  # the sampler's stream: seed + 1
    s_down = s1 * s1 / s0
    ratio = (1 - s1) / (1 - s_down)
    renoise = math.sqrt(s1 ** 2 - (ratio * s_down) ** 2)
    expected = (1 - s1) * x0 + ratio * s_down * noise + renoise * fresh
    assert torch.allclose(got, expected, atol=1e-6)
    assert (ratio * s_down) ** 2 + renoise ** 2 == pytest.approx(s1 ** 2)
    assert sample(lambda x_, s: (x_ - x0) / s, x, torch.tensor([s0, 0.0]), "euler_ancestral").item() == \
        pytest.approx(0.5)


def test_simple_and_sgm_uniform_schedules():
    assert torch.allclose(schedule("simple", 4, 1.0), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    shifted = schedule("simple", 2, 3.0)
    assert shifted[1].item() == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))
    sgm = schedule("sgm_uniform", 3, 1.0)
    assert torch.allclose(sgm, torch.tensor(list(np.linspace(1.0, 0.001, 4)[:-1]) + [0.0], dtype=torch.float32))


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_normal_schedule_is_diffusers_flow_match_euler(shift):
    from diffusers import FlowMatchEulerDiscreteScheduler

    reference = FlowMatchEulerDiscreteScheduler(shift=shift)
    reference.set_timesteps(7)
    assert torch.equal(schedule("normal", 7, shift), reference.sigmas)


def test_beta_schedule_is_denser_at_both_ends():
    sigmas = schedule("beta", 10, 1.0)
    steps = -(sigmas[1:-1] - sigmas[:-2])
    assert sigmas[0] == 1.0 and sigmas[-1] == 0.0 and (steps > 0).all()
    assert steps[0] < steps[4] and steps[-1] < steps[4]


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_beta_schedule_matches_scipy_quantiles(shift):
    """Beta(0.6, 0.6) quantiles from scipy, picked from the model's 1000-entry sigma table."""
    from scipy.stats import beta as beta_distribution

    steps = 10
    indices = np.rint(beta_distribution.ppf(1.0 - np.arange(steps) / steps, 0.6, 0.6) * 999).astype(int)
    times = (indices + 1) / 1000  # table entry i is model time (i + 1) / 1000
    expected = shift * times / (1 + (shift - 1) * times)
    sigmas = schedule("beta", steps, shift)
    assert len(set(sigmas.tolist())) == steps + 1 and sigmas[-1] == 0.0
    np.testing.assert_allclose(sigmas[:-1].numpy(), expected.astype(np.float32), rtol=1e-6)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="scheduler"):
        schedule("karras-ish", 4, 3.0)
    with pytest.raises(ValueError, match="sampler"):
        sample(scalar_model, torch.ones(1), torch.tensor([1.0, 0.0]), "no_such_sampler")


def test_percent_to_sigma():
    assert percent_to_sigma(0.0, 3.0) == 1.0 and percent_to_sigma(1.0, 3.0) == 0.0
    assert percent_to_sigma(0.5, 1.0) == pytest.approx(0.5)


def test_cfg_is_one_forward_pass_per_step(sd3_env):
    from tests.nodes.generation.test_sd3_nodes import CHECKPOINT, call, encode

    model, clip, _ = call(sd3_env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    batches = []
    handle = model.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: batches.append(kwargs["hidden_states"].shape[0]), with_kwargs=True)
    try:
        latent = {"samples": torch.zeros(2, 16, 8, 8)}
        call(sd3_env, "KSampler", model=model, seed=0, steps=3, cfg=4.0, sampler_name="euler", scheduler="simple",
             positive=encode(sd3_env, clip, "a cat"), negative=encode(sd3_env, clip, ""), latent_image=latent,
             denoise=1.0)
        assert batches == [4, 4, 4]  # [negative, positive] x batch 2, one call per step
        batches.clear()
        call(sd3_env, "KSampler", model=model, seed=0, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple",
             positive=encode(sd3_env, clip, "a cat"), negative=encode(sd3_env, clip, ""), latent_image=latent,
             denoise=1.0)
        assert batches == [2, 2]  # cfg 1: the negative is skipped
    finally:
        handle.remove()


def test_timestep_range_switches_conditioning(sd3_env):
    """A conditioning limited to [0, 0.5] is used only on the first half of the steps."""
    from models.sd3.denoiser import SD3Denoiser
    from tests.nodes.generation.test_sd3_nodes import CHECKPOINT, call, encode

    model, clip, _ = call(sd3_env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    a, b = encode(sd3_env, clip, "a cat"), encode(sd3_env, clip, "a dog")
    early = call(sd3_env, "ConditioningSetTimestepRange", conditioning=a, start=0.0, end=0.5)[0]
    late = call(sd3_env, "ConditioningSetTimestepRange", conditioning=b, start=0.5, end=1.0)[0]
    both = early + late
    x = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    manager = sd3_env.services.models
    mixed = SD3Denoiser(model, both, None, 1.0, manager)
    only_a, only_b = SD3Denoiser(model, a, None, 1.0, manager), SD3Denoiser(model, b, None, 1.0, manager)
    high, low = torch.tensor(0.95), torch.tensor(0.05)
    assert torch.allclose(mixed(x, high), only_a(x, high)) and torch.allclose(mixed(x, low), only_b(x, low))
    averaged = SD3Denoiser(model, a + b, None, 1.0, manager)
    assert torch.allclose(averaged(x, high), (only_a(x, high) + only_b(x, high)) / 2, atol=1e-6)


@pytest.mark.parametrize("name", ["karras", "exponential"])
def test_karras_and_exponential_run_from_the_largest_to_the_smallest_sigma(name):
    from models.samplers import sigma_range

    largest, smallest = sigma_range(3.0)
    sigmas = schedule(name, 8, 3.0)
    assert len(sigmas) == 9 and sigmas[-1] == 0.0 and bool((sigmas[:-1] > sigmas[1:]).all())
    assert sigmas[0] == pytest.approx(largest) and sigmas[-2] == pytest.approx(smallest, rel=1e-5)
    ratios = sigmas[1:-1] / sigmas[:-2]
    if name == "exponential":
        assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-4)  # even in log sigma
    else:
        assert ratios[-1] < ratios[0]  # karras spends its steps near the smallest sigmas


def test_lcm_jumps_to_x0_and_renoises_with_fresh_noise():
    x0, noise = torch.tensor([0.5]), torch.tensor([1.0])
    s0, s1 = 0.8, 0.5
    x = (1 - s0) * x0 + s0 * noise
    got = sample(lambda x_, s: (x_ - x0) / s, x, torch.tensor([s0, s1]), "lcm", seed=3)
    fresh = torch.randn(1, generator=torch.Generator("cpu").manual_seed(4))  # the sampler's stream: seed + 1
    assert torch.allclose(got, s1 * fresh + (1 - s1) * x0, atol=1e-6)
    assert sample(lambda x_, s: (x_ - x0) / s, x, torch.tensor([s0, s1, 0.0]), "lcm").item() == pytest.approx(0.5)
