"""SD 1.5 and SDXL graphs reproduce diffusers' StableDiffusionPipeline / StableDiffusionXLPipeline on
identical tiny weights (fp32; the demo's LDM-layout single files vs the diffusers modules they were
written from), with Euler (EulerDiscreteScheduler on the graph's sigmas) and Heun on the Karras
schedule (HeunDiscreteScheduler, use_karras_sigmas)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.stable_diffusion import CHECKPOINTS, build_tiny_unet_pipeline

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
TOLERANCE = 1 / 255
SIZE, STEPS, CFG = 64, 4, 7.0


def graph(ckpt: str, *, seed=42, sampler="euler", scheduler="normal", steps=STEPS, clip_skip: int | None = None):
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": CFG, "sampler_name": sampler,
            "scheduler": scheduler, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "TestCaptureImage", "inputs": {"images": ["6", 0], "key": "image"}},
    }
    if clip_skip is not None:
        prompt["8"] = {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["1", 1], "stop_at_clip_layer": clip_skip}}
        prompt["2"]["inputs"]["clip"] = prompt["3"]["inputs"]["clip"] = ["8", 0]
    return prompt


def run_image(env, prompt) -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", str(result.error)[-1500:]
    return env.captured["image"].numpy()


@pytest.fixture(scope="module")
def pipelines():
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    sd15 = StableDiffusionPipeline(**build_tiny_unet_pipeline("sd15"), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    sdxl = StableDiffusionXLPipeline(**build_tiny_unet_pipeline("sdxl_base"))
    for pipeline in (sd15, sdxl):
        pipeline.set_progress_bar_config(disable=True)
    return {"sd15": sd15, "sdxl_base": sdxl}


def sigmas_of(variant: str, scheduler: str, steps: int = STEPS) -> list[float]:
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    return DiscreteSchedule.from_settings(variant_settings(variant)["schedule"]).schedule(scheduler, steps).tolist()


def clip_skipped_embeddings(pipeline, clip_skip: int) -> dict:
    """diffusers' ``encode_prompt(clip_skip=n)`` rule: hidden_states[-(n + 1)], then the final layer norm
    (computed here: the pipeline's own clip_skip path fails on transformers 5's CLIPTextModel)."""
    encoder = pipeline.text_encoder
    out = {}
    for key, text in (("prompt_embeds", PROMPT), ("negative_prompt_embeds", NEGATIVE)):
        ids = pipeline.tokenizer([text], padding="max_length", max_length=77, truncation=True,
                                 return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = encoder(ids, output_hidden_states=True).hidden_states[-(clip_skip + 1)]
            out[key] = getattr(encoder, "text_model", encoder).final_layer_norm(hidden)
    return out


def pipeline_image(pipeline, variant: str, *, seed=42, scheduler="euler", clip_skip=None) -> np.ndarray:
    from diffusers import EulerDiscreteScheduler, HeunDiscreteScheduler

    from models.sampling import seeded_noise

    common = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    extra = clip_skipped_embeddings(pipeline, clip_skip) if clip_skip else {}
    if scheduler == "euler":
        pipeline.scheduler = EulerDiscreteScheduler(**common, timestep_spacing="leading")
        extra["sigmas"] = sigmas_of(variant, "normal")
    else:
        # linspace spacing makes diffusers' Karras range the whole table (as ComfyUI's); its first latent
        # is noise * sigma_max where ComfyUI's is noise * sqrt(1 + sigma_max^2): given as latents
        pipeline.scheduler = HeunDiscreteScheduler(**common, use_karras_sigmas=True, timestep_spacing="linspace")
        extra["num_inference_steps"] = STEPS
        top = sigmas_of(variant, "karras")[0]
        extra["latents"] = seeded_noise((1, 4, SIZE // 8, SIZE // 8), seed) * ((1 + top * top) ** 0.5 / top)
    texts = {} if clip_skip else {"prompt": PROMPT, "negative_prompt": NEGATIVE}
    return pipeline(**texts, guidance_scale=CFG, height=SIZE, width=SIZE,
                    generator=torch.Generator("cpu").manual_seed(seed), output_type="np", **extra).images


@pytest.mark.parametrize("variant", ["sd15", "sdxl_base"])
def test_euler_normal_matches_pipeline(sd3_capture_env, pipelines, variant):
    expected = pipeline_image(pipelines[variant], variant)
    image = run_image(sd3_capture_env, graph(CHECKPOINTS[variant]))
    assert image.shape == expected.shape == (1, SIZE, SIZE, 3)
    assert np.abs(image - expected).max() <= TOLERANCE
    assert image.std() > 0.01


@pytest.mark.parametrize("variant", ["sd15", "sdxl_base"])
def test_heun_karras_matches_heun_scheduler(sd3_capture_env, pipelines, variant):
    expected = pipeline_image(pipelines[variant], variant, scheduler="heun", seed=3)
    image = run_image(sd3_capture_env, graph(CHECKPOINTS[variant], seed=3, sampler="heun", scheduler="karras"))
    assert np.abs(image - expected).max() <= TOLERANCE


def test_clip_skip_matches_pipeline(sd3_capture_env, pipelines):
    """CLIPSetLastLayer(-2) on SD 1.5 is diffusers' clip_skip=1 (penultimate layer, final norm applied)."""
    expected = pipeline_image(pipelines["sd15"], "sd15", seed=5, clip_skip=1)
    image = run_image(sd3_capture_env, graph(CHECKPOINTS["sd15"], seed=5, clip_skip=-2))
    assert np.abs(image - expected).max() <= TOLERANCE
    assert np.abs(image - run_image(sd3_capture_env, graph(CHECKPOINTS["sd15"], seed=5))).max() > 1e-3


def test_img2img_matches_img2img_pipeline(sd3_capture_env, pipelines):
    """KSampler denoise 0.5 from a VAE-encoded image vs StableDiffusionImg2ImgPipeline(strength=0.5) given
    the same encoded latent and the graph's 8-step schedule (of which the last 4 steps run)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline

    from execution.declare import Out, node

    env = sd3_capture_env
    pixels = torch.from_numpy(np.random.default_rng(0).random((1, SIZE, SIZE, 3), dtype=np.float32))

    @node("TestInputImage", category="_test", outputs=[Out("IMAGE")])
    def input_image():
        return (pixels,)

    env.registry.add(input_image.__node_schema__)
    prompt = graph(CHECKPOINTS["sd15"], seed=3)
    prompt["10"] = {"class_type": "TestInputImage", "inputs": {}}
    prompt["4"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["1", 2]}}
    prompt["5"]["inputs"]["denoise"] = 0.5
    prompt["11"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["4", 0], "key": "latent"}}
    image = run_image(env, prompt)
    i2i = StableDiffusionImg2ImgPipeline(**pipelines["sd15"].components)
    i2i.scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           timestep_spacing="leading")
    i2i.set_progress_bar_config(disable=True)
    expected = i2i(PROMPT, negative_prompt=NEGATIVE, image=env.captured["latent"]["samples"], strength=0.5,
                   sigmas=sigmas_of("sd15", "normal", 2 * STEPS), guidance_scale=CFG,
                   generator=torch.Generator("cpu").manual_seed(3), output_type="np").images
    assert np.abs(image - expected).max() <= TOLERANCE


def test_controlnet_matches_controlnet_pipeline(sd3_capture_env):
    """ControlNetLoader + ControlNetApplyAdvanced on SD 1.5 vs StableDiffusionControlNetPipeline."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionControlNetPipeline

    from execution.declare import Out, node
    from models.demo.stable_diffusion import CONTROLNET, build_tiny_controlnet

    env = sd3_capture_env
    hint = torch.zeros(1, SIZE, SIZE, 3)
    hint[:, 16:48, 16:48] = 1.0

    @node("TestHintImage", category="_test", outputs=[Out("IMAGE")])
    def hint_image():
        return (hint,)

    env.registry.add(hint_image.__node_schema__)
    prompt = graph(CHECKPOINTS["sd15"], seed=8)
    prompt["20"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CONTROLNET}}
    prompt["21"] = {"class_type": "TestHintImage", "inputs": {}}
    prompt["22"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["20", 0], "image": ["21", 0], "strength": 1.0,
        "start_percent": 0.0, "end_percent": 1.0}}
    prompt["5"]["inputs"].update(positive=["22", 0], negative=["22", 1])
    image = run_image(env, prompt)
    components = build_tiny_unet_pipeline("sd15")
    components["scheduler"] = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                     beta_schedule="scaled_linear", timestep_spacing="leading")
    pipeline = StableDiffusionControlNetPipeline(**components, controlnet=build_tiny_controlnet(), safety_checker=None,
                                                 feature_extractor=None, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(PROMPT, negative_prompt=NEGATIVE, image=hint.permute(0, 3, 1, 2), guidance_scale=CFG,
                        height=SIZE, width=SIZE, sigmas=sigmas_of("sd15", "normal"),
                        generator=torch.Generator("cpu").manual_seed(8), output_type="np").images
    assert np.abs(image - expected).max() <= TOLERANCE
    plain = run_image(env, graph(CHECKPOINTS["sd15"], seed=8))
    assert np.abs(image - plain).max() > 1e-3


def test_sdxl_size_conditioning_matches_pipeline(sd3_capture_env, pipelines):
    """CLIPTextEncodeSDXL's original size, crop and target size are diffusers' original_size,
    crops_coords_top_left and target_size (the U-Net's time ids)."""
    prompt = graph(CHECKPOINTS["sdxl_base"], seed=12)
    for node_id, text in (("2", PROMPT), ("3", NEGATIVE)):
        prompt[node_id] = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
            "clip": ["1", 1], "width": 128, "height": 96, "crop_w": 8, "crop_h": 4, "target_width": 80,
            "target_height": 72, "text_g": text, "text_l": text}}
    image = run_image(sd3_capture_env, prompt)
    from diffusers import EulerDiscreteScheduler

    pipeline = pipelines["sdxl_base"]
    pipeline.scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="leading")
    expected = pipeline(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE,
                        sigmas=sigmas_of("sdxl_base", "normal"), original_size=(96, 128),
                        crops_coords_top_left=(4, 8), target_size=(72, 80),
                        generator=torch.Generator("cpu").manual_seed(12), output_type="np").images
    assert np.abs(image - expected).max() <= TOLERANCE
    assert np.abs(image - run_image(sd3_capture_env, graph(CHECKPOINTS["sdxl_base"], seed=12))).max() > 1e-4


def test_sdxl_refiner_img2img_matches_pipeline(tmp_path):
    """A refiner file (OpenCLIP-G alone under conditioner.embedders.0.model., 5 time ids) with
    CLIPTextEncodeSDXLRefiner (aesthetic score 6 / 2.5) vs StableDiffusionXLImg2ImgPipeline."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

    from models.demo.stable_diffusion import build_tiny_unet_pipeline, write_checkpoint
    from tests.fixtures.zoo import CAPTURED, SD3Env, _capture_schemas

    components = build_tiny_unet_pipeline("sdxl_refiner")
    models = tmp_path / "models"
    write_checkpoint(components, "sdxl_refiner", models / "checkpoints" / "refiner-tiny-RANDOM.safetensors")
    env = SD3Env(tmp_path, models, preview_method="none")
    try:
        CAPTURED.clear()
        env.registry.add_all(_capture_schemas())
        latent = torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(0))

        from execution.declare import Out, node

        @node("TestInputLatent", category="_test", outputs=[Out("LATENT")])
        def input_latent():
            return ({"samples": latent},)

        env.registry.add(input_latent.__node_schema__)
        prompt = graph("refiner-tiny-RANDOM.safetensors", seed=7)
        for node_id, text, score in (("2", PROMPT, 6.0), ("3", NEGATIVE, 2.5)):
            prompt[node_id] = {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {
                "clip": ["1", 1], "ascore": score, "width": SIZE, "height": SIZE, "text": text}}
        prompt["4"] = {"class_type": "TestInputLatent", "inputs": {}}
        prompt["5"]["inputs"]["denoise"] = 0.5
        result = env.run(prompt)
        assert result.status == "success", str(result.error)[-1500:]
        image = CAPTURED["image"].numpy()
    finally:
        env.close()
    components.pop("tokenizer")
    components["scheduler"] = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                     beta_schedule="scaled_linear", timestep_spacing="leading")
    pipeline = StableDiffusionXLImg2ImgPipeline(**components, text_encoder=None, tokenizer=None,
                                                requires_aesthetics_score=True)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(PROMPT, negative_prompt=NEGATIVE, image=latent, strength=0.5, guidance_scale=CFG,
                        sigmas=sigmas_of("sdxl_refiner", "normal", 2 * STEPS), aesthetic_score=6.0,
                        negative_aesthetic_score=2.5, generator=torch.Generator("cpu").manual_seed(7),
                        output_type="np").images
    assert np.abs(image - expected).max() <= TOLERANCE


def test_uni_pc_bh2_matches_unipc_pipeline(sd3_capture_env, pipelines):
    """uni_pc_bh2 + simple vs StableDiffusionPipeline with UniPCMultistepScheduler (order 3, B(h) = e^h - 1,
    'trailing' timesteps: the same table entries as ComfyUI's simple schedule). diffusers' bh1 variant
    ends in NaN on sigma 0, so uni_pc (bh1) is checked against the scheduler alone in tests/models/solvers."""
    from diffusers import StableDiffusionPipeline, UniPCMultistepScheduler

    from models.sampling import seeded_noise

    components = dict(pipelines["sd15"].components)
    components["scheduler"] = UniPCMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing",
        solver_order=3, solver_type="bh2", predict_x0=True, lower_order_final=True, final_sigmas_type="zero")
    pipeline = StableDiffusionPipeline(**components)
    pipeline.set_progress_bar_config(disable=True)
    steps = 5
    assert torch.allclose(torch.tensor(sigmas_of("sd15", "simple", steps)), (
        pipeline.scheduler.set_timesteps(steps) or pipeline.scheduler.sigmas), rtol=1e-5)
    expected = pipeline(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE,
                        num_inference_steps=steps, latents=seeded_noise((1, 4, SIZE // 8, SIZE // 8), 21),
                        output_type="np").images
    image = run_image(sd3_capture_env, graph(CHECKPOINTS["sd15"], seed=21, sampler="uni_pc_bh2", scheduler="simple",
                                             steps=steps))
    assert np.abs(image - expected).max() <= TOLERANCE
    euler = run_image(sd3_capture_env, graph(CHECKPOINTS["sd15"], seed=21, scheduler="simple", steps=steps))
    assert np.abs(euler - expected).max() > TOLERANCE
