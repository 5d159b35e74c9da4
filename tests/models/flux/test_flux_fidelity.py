"""The FLUX graph reproduces diffusers' FluxPipeline on identical tiny weights (fp32), for the dev
(guidance input) and schnell configs; single files equal diffusers folders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.flux import CHECKPOINT, DIFFUSERS_FOLDERS, DIFFUSION_MODELS, VAE
from models.demo.sd3 import TEXT_ENCODERS

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
TOLERANCE = 1 / 255
SIZE, STEPS = 64, 3


def split_prompt(variant: str, *, seed=42, steps=STEPS, cfg=1.0, guidance=3.5, sampler="euler",
                 scheduler="simple", shift_node=True) -> dict:
    """ComfyUI's split-file FLUX graph: UNETLoader + DualCLIPLoader(flux) + VAELoader."""
    prompt = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": DIFFUSION_MODELS[variant],
                                                     "weight_dtype": "default"}},
        "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": TEXT_ENCODERS["clip_l"],
                                                         "clip_name2": TEXT_ENCODERS["t5xxl"], "type": "flux"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": VAE}},
        "4": {"class_type": "CLIPTextEncodeFlux", "inputs": {"clip": ["2", 0], "clip_l": PROMPT, "t5xxl": PROMPT,
                                                             "guidance": guidance}},
        "5": {"class_type": "EmptySD3LatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": NEGATIVE}},
        "7": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
            "scheduler": scheduler, "positive": ["4", 0], "negative": ["10", 0], "latent_image": ["5", 0],
            "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["3", 0]}},
        "9": {"class_type": "TestCaptureImage", "inputs": {"images": ["8", 0], "key": "image"}},
        "10": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0], "guidance": guidance}},
    }
    if shift_node:
        prompt["11"] = {"class_type": "ModelSamplingFlux", "inputs": {"model": ["1", 0], "max_shift": 1.15,
                                                                      "base_shift": 0.5, "width": SIZE, "height": SIZE}}
        prompt["7"]["inputs"]["model"] = ["11", 0]
    return prompt


def checkpoint_prompt(ckpt: str, *, seed=42, steps=STEPS) -> dict:
    """The flux_schnell template's shape: CheckpointLoaderSimple + CLIPTextEncode + KSampler cfg 1."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["2", 0]}},
        "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "5": {"class_type": "ModelSamplingFlux", "inputs": {"model": ["1", 0], "max_shift": 1.15, "base_shift": 0.5,
                                                            "width": SIZE, "height": SIZE}},
        "6": {"class_type": "KSampler", "inputs": {
            "model": ["5", 0], "seed": seed, "steps": steps, "cfg": 1.0, "sampler_name": "euler",
            "scheduler": "simple", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "TestCaptureImage", "inputs": {"images": ["7", 0], "key": "image"}},
    }


@pytest.fixture(scope="module")
def flux_pipelines(demo_models_dir):
    from diffusers import FluxPipeline

    pipelines = {}
    for variant, folder in DIFFUSERS_FOLDERS.items():
        pipeline = FluxPipeline.from_pretrained(str(demo_models_dir / "checkpoints" / folder),
                                                torch_dtype=torch.float32)
        pipeline.set_progress_bar_config(disable=True)
        pipelines[variant] = pipeline
    return pipelines


def pipeline_image(pipeline, *, seed=42, steps=STEPS, guidance=3.5, true_cfg=1.0) -> np.ndarray:
    extra = {"negative_prompt": NEGATIVE, "true_cfg_scale": true_cfg} if true_cfg > 1 else {}
    return pipeline(PROMPT, num_inference_steps=steps, guidance_scale=guidance, height=SIZE, width=SIZE,
                    max_sequence_length=256, generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
                    **extra).images


def run_image(env, prompt) -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", result.error
    return env.captured["image"].numpy()


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_split_files_match_pipeline(sd3_capture_env, flux_pipelines, variant):
    """dev: guidance 3.5 as a model input, the resolution-dependent shift; schnell: no guidance input,
    no shift. CFG 1 (the negative is ignored)."""
    expected = pipeline_image(flux_pipelines[variant])
    image = run_image(sd3_capture_env, split_prompt(variant, shift_node=variant == "dev"))
    assert image.shape == expected.shape == (1, SIZE, SIZE, 3)
    assert np.abs(image - expected).max() <= TOLERANCE
    assert image.std() > 0.01


def test_guidance_value_reaches_the_dev_model(sd3_capture_env, flux_pipelines):
    expected = pipeline_image(flux_pipelines["dev"], guidance=7.0, seed=5)
    image = run_image(sd3_capture_env, split_prompt("dev", guidance=7.0, seed=5))
    assert np.abs(image - expected).max() <= TOLERANCE
    assert np.abs(image - run_image(sd3_capture_env, split_prompt("dev", seed=5))).max() > 0.01


def test_cfg_above_one_matches_true_cfg(sd3_capture_env, flux_pipelines):
    """KSampler cfg 2 with a negative equals FluxPipeline(true_cfg_scale=2, negative_prompt)."""
    expected = pipeline_image(flux_pipelines["dev"], true_cfg=2.0, seed=9)
    image = run_image(sd3_capture_env, split_prompt("dev", cfg=2.0, seed=9))
    assert np.abs(image - expected).max() <= TOLERANCE


def test_cfg_one_is_one_forward_pass_per_step(sd3_capture_env):
    env = sd3_capture_env
    assert env.run(split_prompt("schnell", steps=2)).status == "success"
    transformer = None
    for entry in env.services.models._entries.values():
        if type(getattr(entry.value, "transformer", None)).__name__ == "FluxTransformer2DModel":
            transformer = entry.value.transformer
    batches: list[int] = []
    handle = transformer.register_forward_hook(lambda module, args, kwargs, out: batches.append(
        kwargs["hidden_states"].shape[0]), with_kwargs=True)
    try:
        run_image(env, split_prompt("schnell", steps=2, seed=1))
        assert batches == [1, 1]
        batches.clear()
        run_image(env, split_prompt("schnell", steps=2, seed=1, cfg=3.0))
        assert batches == [2, 2]  # positive and negative in one batched call
    finally:
        handle.remove()


def test_all_in_one_checkpoint_equals_folder_and_pipeline(sd3_capture_env, flux_pipelines):
    """The ComfyUI-style all-in-one file (original layout, bundled CLIP-L + T5 + VAE) and the
    diffusers folder hold the same weights: same pixels, and both equal the pipeline."""
    single = run_image(sd3_capture_env, checkpoint_prompt(CHECKPOINT, seed=11))
    folder = run_image(sd3_capture_env, checkpoint_prompt(DIFFUSERS_FOLDERS["dev"], seed=11))
    expected = pipeline_image(flux_pipelines["dev"], seed=11)
    assert np.abs(single - folder).max() <= 1e-5
    assert np.abs(single - expected).max() <= TOLERANCE


@pytest.mark.parametrize("sampler,scheduler", [("heun", "normal"), ("dpmpp_2m", "beta"),
                                               ("euler_ancestral", "sgm_uniform")])
def test_every_sampler_and_scheduler_drives_flux(sd3_capture_env, sampler, scheduler):
    image = run_image(sd3_capture_env, split_prompt("dev", steps=2, sampler=sampler, scheduler=scheduler))
    assert np.isfinite(image).all() and image.std() > 0.01


def test_custom_sampling_nodes_drive_flux(sd3_capture_env):
    """SamplerCustomAdvanced (BasicGuider, the FLUX way) equals KSampler at cfg 1, and a 4-channel
    EmptyLatentImage is expanded to FLUX's 16 channels."""
    expected = run_image(sd3_capture_env, split_prompt("dev", seed=21))
    prompt = split_prompt("dev", seed=21)
    del prompt["7"]
    prompt.update({
        "12": {"class_type": "RandomNoise", "inputs": {"noise_seed": 21}},
        "13": {"class_type": "BasicGuider", "inputs": {"model": ["11", 0], "conditioning": ["4", 0]}},
        "14": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "15": {"class_type": "BasicScheduler", "inputs": {"model": ["11", 0], "scheduler": "simple", "steps": STEPS,
                                                          "denoise": 1.0}},
        "16": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "7": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["12", 0], "guider": ["13", 0],
                                                                "sampler": ["14", 0], "sigmas": ["15", 0],
                                                                "latent_image": ["16", 0]}},
    })
    assert np.abs(run_image(sd3_capture_env, prompt) - expected).max() <= 1e-6


def test_img2img_matches_flux_img2img_pipeline(sd3_capture_env, flux_pipelines):
    """VAEEncode + KSampler denoise 0.5 vs FluxImg2ImgPipeline(strength=0.5) given the same latent."""
    from diffusers import FluxImg2ImgPipeline

    from execution.declare import Out, node

    env = sd3_capture_env
    pixels = torch.from_numpy(np.random.default_rng(0).random((1, SIZE, SIZE, 3), dtype=np.float32))

    @node("TestFluxInputImage", category="_test", outputs=[Out("IMAGE")])
    def input_image():
        return (pixels,)

    env.registry.add(input_image.__node_schema__)
    prompt = split_prompt("dev", steps=2, seed=3)
    prompt.update({"20": {"class_type": "TestFluxInputImage", "inputs": {}},
                   "21": {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["3", 0]}},
                   "22": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["21", 0], "key": "latent"}}})
    prompt["7"]["inputs"].update(latent_image=["21", 0], denoise=0.5)
    image = run_image(env, prompt)
    pipeline = FluxImg2ImgPipeline(**flux_pipelines["dev"].components)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(PROMPT, image=env.captured["latent"]["samples"], strength=0.5, num_inference_steps=4,
                        guidance_scale=3.5, height=SIZE, width=SIZE, max_sequence_length=256,
                        generator=torch.Generator("cpu").manual_seed(3), output_type="np").images
    assert np.abs(image - expected).max() <= TOLERANCE
