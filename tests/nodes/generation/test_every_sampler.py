"""Every sampler and scheduler name is served by both kinds of model (rectified flow: SD3/FLUX; eps
prediction: SD 1.x/SDXL); the new ones run in graphs on the demo SD3 and SD 1.5, and KSamplerSelect +
BasicScheduler + SamplerCustomAdvanced give KSampler's pixels with them. SDTurboScheduler gives
SD-Turbo's sigmas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.sd3 import CHECKPOINT as SD3_CHECKPOINT
from models.demo.stable_diffusion import CHECKPOINTS
from nodes.generation.sampling import SAMPLER_NAMES, SCHEDULER_NAMES

FAMILIES = {"sd3": (SD3_CHECKPOINT, "EmptySD3LatentImage"), "sd15": (CHECKPOINTS["sd15"], "EmptyLatentImage")}


def prompt_for(family: str, *, sampler: str, scheduler: str, steps: int = 3, seed: int = 7, custom=False) -> dict:
    checkpoint, empty = FAMILIES[family]
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cat", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": empty, "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": 4.0, "sampler_name": sampler,
            "scheduler": scheduler, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "TestCaptureImage", "inputs": {"images": ["6", 0], "key": "image"}},
    }
    if custom:
        prompt.update({
            "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
            "11": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0],
                                                         "negative": ["3", 0], "cfg": 4.0}},
            "12": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}},
            "13": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": scheduler,
                                                              "steps": steps, "denoise": 1.0}},
            "5": {"class_type": "SamplerCustomAdvanced", "inputs": {
                "noise": ["10", 0], "guider": ["11", 0], "sampler": ["12", 0], "sigmas": ["13", 0],
                "latent_image": ["4", 0]}},
        })
    return prompt


def image_of(env, prompt) -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", str(result.error)[-1500:]
    return env.captured["image"].numpy().copy()


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "eps"])
def test_every_name_is_served_by_both_kinds_of_model(flow):
    """Each KSampler name through the model's own sampling rules (a stand-in model; the graph runs below
    use the real ones): finite and the same per seed."""
    from models.sampling import FlowSampling
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    rules = FlowSampling(3.0) if flow else DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"])
    weights = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))

    def model(x, sigma):  # x0 = 0.5 * tanh(W x) in whichever space
        x0 = 0.5 * torch.tanh(torch.einsum("ij,bjhw->bihw", weights, x))
        return (x - x0) / float(sigma)

    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    for scheduler in SCHEDULER_NAMES:
        sigmas = rules.schedule(scheduler, 5)
        assert sigmas[-1] == 0 and torch.all(sigmas[:-1] > sigmas[1:]) and len(sigmas) <= 6, scheduler
    sigmas = rules.schedule("karras", 5)
    for sampler in SAMPLER_NAMES:
        start = rules.noise(sigmas[0], noise, torch.zeros_like(noise))
        out = rules.sample(model, start, sigmas, sampler, seed=3)
        assert torch.isfinite(out).all(), sampler
        assert torch.equal(out, rules.sample(model, start, sigmas, sampler, seed=3)), sampler


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_new_names_run_in_graphs_and_custom_sampling_equals_ksampler(sd3_capture_env, family):
    image = image_of(sd3_capture_env, prompt_for(family, sampler="uni_pc", scheduler="kl_optimal"))
    assert np.isfinite(image).all() and image.std() > 0.01
    expected = image_of(sd3_capture_env, prompt_for(family, sampler="dpmpp_sde_gpu", scheduler="linear_quadratic"))
    custom = image_of(sd3_capture_env, prompt_for(family, sampler="dpmpp_sde_gpu", scheduler="linear_quadratic",
                                                  custom=True))
    assert np.array_equal(custom, expected) and expected.std() > 0.01


def test_ksampler_advanced_chains_a_new_sampler(sd3_capture_env):
    prompt = prompt_for("sd15", sampler="res_multistep", scheduler="kl_optimal", steps=4)
    common = {k: prompt["5"]["inputs"][k] for k in ("model", "steps", "cfg", "sampler_name", "scheduler", "positive",
                                                       "negative")}
    prompt["5"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **common, "add_noise": "enable", "noise_seed": 7, "latent_image": ["4", 0], "start_at_step": 0,
        "end_at_step": 2, "return_with_leftover_noise": "enable"}}
    prompt["8"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **common, "add_noise": "disable", "noise_seed": 7, "latent_image": ["5", 0], "start_at_step": 2,
        "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    prompt["6"]["inputs"]["samples"] = ["8", 0]
    image = image_of(sd3_capture_env, prompt)
    assert np.isfinite(image).all() and image.std() > 0.01


@pytest.mark.parametrize("steps,denoise", [(1, 1.0), (4, 1.0), (2, 0.5)])
def test_sd_turbo_scheduler_gives_sd_turbo_sigmas(steps, denoise):
    """SD-Turbo's diffusers setup: 10 'trailing' timesteps (999, 899, ..., 99); denoise skips the first ones."""
    from diffusers import EulerDiscreteScheduler

    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule
    from nodes.generation.custom_sampling import sd_turbo_scheduler

    class Model:
        sampling = DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"])

    reference = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing")
    reference.set_timesteps(10)
    start = 10 - int(10 * denoise)
    (sigmas,) = sd_turbo_scheduler(Model(), steps, denoise)
    assert torch.allclose(sigmas[:-1], reference.sigmas[start:start + steps], rtol=1e-5) and sigmas[-1] == 0
