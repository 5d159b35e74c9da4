"""The custom-sampling family on the demo SD3: SamplerCustomAdvanced and SamplerCustom equal
KSampler with the same settings; guiders, noise sources and sigma operations; all-zero latents of
another channel count are expanded."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.sd3 import CHECKPOINT
from tests.models.sd3.test_sd3_fidelity import NEGATIVE, PROMPT, t2i_prompt


def custom_prompt(*, sampler="euler", scheduler="normal", steps=3, cfg=5.0, seed=42, noise="RandomNoise") -> dict:
    prompt = t2i_prompt(CHECKPOINT, seed=seed, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler)
    del prompt["5"]
    prompt.update({
        "10": {"class_type": noise, "inputs": {"noise_seed": seed} if noise == "RandomNoise" else {}},
        "11": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                     "cfg": cfg}},
        "12": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}},
        "13": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": scheduler, "steps": steps,
                                                          "denoise": 1.0}},
        "5": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["10", 0], "guider": ["11", 0],
                                                                "sampler": ["12", 0], "sigmas": ["13", 0],
                                                                "latent_image": ["4", 0]}},
    })
    return prompt


def image_of(env, prompt, key="image") -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", result.error
    return env.captured[key].numpy().copy()


@pytest.mark.parametrize("sampler,scheduler", [("euler", "normal"), ("dpmpp_2m", "beta"),
                                               ("euler_ancestral", "simple")])
def test_sampler_custom_advanced_equals_ksampler(sd3_capture_env, sampler, scheduler):
    env = sd3_capture_env
    expected = image_of(env, t2i_prompt(CHECKPOINT, seed=42, steps=3, sampler=sampler, scheduler=scheduler))
    custom = image_of(env, custom_prompt(sampler=sampler, scheduler=scheduler))
    assert np.array_equal(custom, expected)
    prompt = t2i_prompt(CHECKPOINT, seed=42, steps=3, sampler=sampler, scheduler=scheduler)
    prompt["5"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ["1", 0], "add_noise": True, "noise_seed": 42, "cfg": 5.0, "positive": ["2", 0],
        "negative": ["3", 0], "sampler": ["12", 0], "sigmas": ["13", 0], "latent_image": ["4", 0]}}
    prompt["12"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}}
    prompt["13"] = {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": scheduler,
                                                               "steps": 3, "denoise": 1.0}}
    assert np.array_equal(image_of(env, prompt), expected)


def test_split_sigmas_chain_with_disable_noise_equals_one_run(sd3_capture_env):
    """High sigmas with noise, then low sigmas with DisableNoise = one full run (KSamplerAdvanced's chain)."""
    env = sd3_capture_env
    expected = image_of(env, custom_prompt(steps=4))
    prompt = custom_prompt(steps=4)
    prompt["14"] = {"class_type": "SplitSigmas", "inputs": {"sigmas": ["13", 0], "step": 2}}
    prompt["15"] = {"class_type": "DisableNoise", "inputs": {}}
    prompt["5"]["inputs"]["sigmas"] = ["14", 0]
    prompt["16"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["15", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["14", 1],
        "latent_image": ["5", 0]}}
    prompt["6"]["inputs"]["samples"] = ["16", 0]
    prompt["17"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 1], "key": "denoised"}}
    prompt["18"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "output"}}
    assert np.abs(image_of(env, prompt) - expected).max() <= 1e-5
    assert not torch.equal(env.captured["denoised"]["samples"], env.captured["output"]["samples"])


def test_dual_cfg_guider_with_equal_conds_is_cfg(sd3_capture_env):
    env = sd3_capture_env
    expected = image_of(env, custom_prompt(cfg=4.0))
    prompt = custom_prompt(cfg=4.0)
    prompt["11"] = {"class_type": "DualCFGGuider", "inputs": {
        "model": ["1", 0], "cond1": ["2", 0], "cond2": ["2", 0], "negative": ["3", 0], "cfg_conds": 7.0,
        "cfg_cond2_negative": 4.0, "style": "regular"}}
    assert np.abs(image_of(env, prompt) - expected).max() <= 1e-4
    prompt["11"]["inputs"].update(style="nested", cond1=["3", 0])  # now cond1 pulls away from cond2
    assert np.abs(image_of(env, prompt) - expected).max() > 1e-3
    prompt["11"] = {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["2", 0]}}
    basic = image_of(env, prompt)
    one = t2i_prompt(CHECKPOINT, seed=42, steps=3, cfg=1.0)
    assert np.abs(basic - image_of(env, one)).max() <= 1e-5


def test_empty_latent_of_four_channels_is_expanded(sd3_capture_env):
    env = sd3_capture_env
    expected = image_of(env, t2i_prompt(CHECKPOINT, seed=5, steps=2))
    prompt = t2i_prompt(CHECKPOINT, seed=5, steps=2)
    prompt["4"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    assert np.array_equal(image_of(env, prompt), expected)


def test_non_empty_latent_of_wrong_channels_is_an_error():
    from models.sampling import fit_latent_channels

    assert fit_latent_channels(torch.zeros(1, 4, 8, 8), 16).shape == (1, 16, 8, 8)
    with pytest.raises(ValueError, match="4 channels but this model needs 16"):
        fit_latent_channels(torch.ones(1, 4, 8, 8), 16)


def test_sigma_operations():
    from models.sd3.wrappers import SD3Model
    from nodes.generation import custom_sampling as cs

    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    high, low = cs.split_sigmas(sigmas, 1)
    assert high.tolist() == [1.0, 0.75] and low.tolist() == [0.75, 0.5, 0.25, 0.0]
    high, low = cs.split_sigmas_denoise(sigmas, 0.5)
    assert high.tolist() == [1.0, 0.75, 0.5] and low.tolist() == [0.5, 0.25, 0.0]
    high, low = cs.split_sigmas_denoise(sigmas, 0.0)
    assert high.tolist() == [] and low.tolist() == [0.0]
    (first,) = cs.set_first_sigma(sigmas, 0.9)
    assert first.tolist()[0] == pytest.approx(0.9) and sigmas[0] == 1.0  # input unchanged
    (flipped,) = cs.flip_sigmas(sigmas)
    assert flipped.tolist() == pytest.approx([1e-4, 0.25, 0.5, 0.75, 1.0])
    model = SD3Model(transformer=None, shift=3.0)
    (beta,) = cs.beta_sampling_scheduler(model, 10, 0.6, 0.6)
    assert beta[-1] == 0 and len(beta) <= 11 and bool(torch.all(beta[:-1] > beta[1:]))
    (basic,) = cs.basic_scheduler(model, "normal", 4, 0.5)
    assert len(basic) == 5
    (aura,) = cs.model_sampling_aura_flow(model, 1.73)
    assert (aura.shift, aura.multiplier, model.multiplier) == (1.73, 1.0, 1000.0)
