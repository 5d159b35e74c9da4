"""The central test: the node graph reproduces diffusers' SD3 pipelines (max abs pixel diff <= 1e-4, fp32)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.sd3 import CHECKPOINT, DIFFUSERS_FOLDER

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
TOLERANCE = 1e-4


def t2i_prompt(ckpt: str, *, seed=42, steps=4, cfg=5.0, sampler="euler", scheduler="normal", size=64,
               negative=NEGATIVE, shift=None, denoise=1.0, latent=None) -> dict:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["1", 1]}},
        "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
            "scheduler": scheduler, "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": latent or ["4", 0], "denoise": denoise}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "TestCaptureImage", "inputs": {"images": ["6", 0], "key": "image"}},
    }
    if shift is not None:
        prompt["8"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": shift}}
        prompt["5"]["inputs"]["model"] = ["8", 0]
    return prompt


@pytest.fixture(scope="module")
def pipelines(demo_models_dir):
    from diffusers import StableDiffusion3Img2ImgPipeline, StableDiffusion3Pipeline

    folder = demo_models_dir / "checkpoints" / DIFFUSERS_FOLDER
    t2i = StableDiffusion3Pipeline.from_pretrained(str(folder), torch_dtype=torch.float32)
    t2i.set_progress_bar_config(disable=True)
    i2i = StableDiffusion3Img2ImgPipeline(**t2i.components)
    i2i.set_progress_bar_config(disable=True)
    return t2i, i2i


def run_image(env, prompt) -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", result.error
    return env.captured["image"].numpy()


@pytest.mark.parametrize("ckpt", [CHECKPOINT, DIFFUSERS_FOLDER], ids=["single-file", "diffusers-folder"])
def test_text_to_image_matches_pipeline(sd3_capture_env, pipelines, ckpt):
    t2i, _ = pipelines
    expected = t2i(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=4, guidance_scale=5.0, height=64,
                   width=64, generator=torch.Generator("cpu").manual_seed(42), output_type="np").images
    image = run_image(sd3_capture_env, t2i_prompt(ckpt))
    assert image.shape == expected.shape == (1, 64, 64, 3)
    assert np.abs(image - expected).max() <= TOLERANCE
    assert image.std() > 0.01  # not a constant image


def test_simple_scheduler_and_shift_match_pipeline_sigmas(sd3_capture_env, pipelines):
    """``simple`` = model times 1..1/N; with ModelSamplingSD3(shift) it equals the pipeline given those
    sigmas and that shift."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    t2i, _ = pipelines
    steps, shift = 3, 2.0
    original = t2i.scheduler
    t2i.scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    try:
        expected = t2i(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=steps, guidance_scale=4.0, height=64,
                       width=64, generator=torch.Generator("cpu").manual_seed(7), output_type="np",
                       sigmas=list(np.linspace(1.0, 1.0 / steps, steps))).images
    finally:
        t2i.scheduler = original
    image = run_image(sd3_capture_env, t2i_prompt(CHECKPOINT, seed=7, steps=steps, cfg=4.0, scheduler="simple",
                                                  shift=shift))
    assert np.abs(image - expected).max() <= TOLERANCE


def test_img2img_matches_img2img_pipeline(sd3_capture_env, pipelines):
    """denoise < 1 from a VAE-encoded image vs StableDiffusion3Img2ImgPipeline(strength=denoise) given
    the same encoded latent."""
    _, i2i = pipelines
    env = sd3_capture_env
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(rng.random((1, 64, 64, 3), dtype=np.float32))
    env.captured["input"] = pixels
    encode_prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "9": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["10", 0], "key": "latent"}},
        "10": {"class_type": "VAEEncode", "inputs": {"pixels": ["11", 0], "vae": ["1", 2]}},
        "11": {"class_type": "TestInputImage", "inputs": {}},
    }
    from execution.declare import Out, node

    @node("TestInputImage", category="_test", outputs=[Out("IMAGE")])
    def input_image():
        return (pixels,)

    env.registry.add(input_image.__node_schema__)
    assert env.run(encode_prompt).status == "success"
    latent = env.captured["latent"]["samples"]
    prompt = t2i_prompt(CHECKPOINT, steps=2, denoise=0.5, latent=["10", 0], seed=3)
    prompt.update({k: v for k, v in encode_prompt.items() if k in ("10", "11")})
    image = run_image(env, prompt)
    expected = i2i(PROMPT, negative_prompt=NEGATIVE, image=latent, strength=0.5, num_inference_steps=4,
                   guidance_scale=5.0, generator=torch.Generator("cpu").manual_seed(3), output_type="np").images
    assert np.abs(image - expected).max() <= TOLERANCE


def test_single_file_equals_diffusers_folder(sd3_capture_env):
    """The original-layout single file and the diffusers folder hold the same weights: same pixels."""
    first = run_image(sd3_capture_env, t2i_prompt(CHECKPOINT, seed=11, steps=2))
    second = run_image(sd3_capture_env, t2i_prompt(DIFFUSERS_FOLDER, seed=11, steps=2))
    assert np.abs(first - second).max() <= TOLERANCE
