"""SDXL and SD 1.5 ControlNets read from original-layout files, through ControlNetLoader +
ControlNetApplyAdvanced + KSampler, reproduce diffusers' StableDiffusionXLControlNetPipeline /
StableDiffusionControlNetPipeline on identical tiny weights (Euler on the graph's sigmas, ≤ 1/255)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.stable_diffusion import CHECKPOINTS
from tests.fixtures.unet_control import UNET_CONTROLNETS

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
TOLERANCE = 1 / 255
SIZE, STEPS, CFG, SEED = 64, 4, 7.0, 8


@pytest.fixture(scope="module")
def env(unet_control_models, tmp_path_factory):
    from execution.declare import Out, node
    from tests.fixtures.zoo import CAPTURED, SD3Env, _capture_schemas

    environment = SD3Env(tmp_path_factory.mktemp("unet_control_base"), unet_control_models.models_dir,
                         preview_method="none")
    environment.registry.add_all(_capture_schemas())
    environment.captured = CAPTURED
    hint = _hint()

    @node("TestUNetHintImage", category="_test", outputs=[Out("IMAGE")])
    def hint_image():
        return (hint,)

    environment.registry.add(hint_image.__node_schema__)
    yield environment
    environment.close()


def _hint() -> torch.Tensor:
    hint = torch.zeros(1, SIZE, SIZE, 3)
    hint[:, 16:48, 16:48] = 1.0
    hint[:, 24:40, :, 1] = 0.5
    return hint


def _prompt(variant: str, controlnet: str | None, strength: float = 1.0) -> dict:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINTS[variant]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": SEED, "steps": STEPS, "cfg": CFG, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "TestCaptureImage", "inputs": {"images": ["6", 0], "key": "image"}},
    }
    if controlnet is not None:
        prompt["20"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": controlnet}}
        prompt["21"] = {"class_type": "TestUNetHintImage", "inputs": {}}
        prompt["22"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["20", 0], "image": ["21", 0],
            "strength": strength, "start_percent": 0.0, "end_percent": 1.0}}
        prompt["5"]["inputs"].update(positive=["22", 0], negative=["22", 1])
    return prompt


def _run(env, prompt) -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", str(result.error)[-1500:]
    return env.captured["image"].numpy()


def _pipeline_image(variant: str, net, strength: float = 1.0) -> np.ndarray:
    from diffusers import EulerDiscreteScheduler, StableDiffusionControlNetPipeline, StableDiffusionXLControlNetPipeline

    from models.demo.stable_diffusion import build_tiny_unet_pipeline
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    components = build_tiny_unet_pipeline(variant)
    components["scheduler"] = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                     beta_schedule="scaled_linear", timestep_spacing="leading")
    if variant == "sd15":
        pipeline = StableDiffusionControlNetPipeline(**components, controlnet=net, safety_checker=None,
                                                     feature_extractor=None, requires_safety_checker=False)
    else:
        pipeline = StableDiffusionXLControlNetPipeline(**components, controlnet=net)
    pipeline.set_progress_bar_config(disable=True)
    sigmas = DiscreteSchedule.from_settings(variant_settings(variant)["schedule"]).schedule("normal", STEPS)
    return pipeline(PROMPT, negative_prompt=NEGATIVE, image=_hint().permute(0, 3, 1, 2), guidance_scale=CFG,
                    height=SIZE, width=SIZE, sigmas=sigmas.tolist(), controlnet_conditioning_scale=strength,
                    generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").images


@pytest.mark.parametrize("key", ["sdxl-original", "sd15-original"])
def test_controlnet_file_matches_controlnet_pipeline(env, unet_control_models, key):
    name, variant = UNET_CONTROLNETS[key]
    image = _run(env, _prompt(variant, name, strength=0.8))
    expected = _pipeline_image(variant, unet_control_models.nets[variant], strength=0.8)
    assert image.shape == expected.shape == (1, SIZE, SIZE, 3)
    assert np.abs(image - expected).max() <= TOLERANCE
    plain = _run(env, _prompt(variant, None))
    assert np.abs(image - plain).max() > 1e-3, "the ControlNet must change the image"


def test_controlnet_of_the_other_family_is_refused_before_sampling(env):
    result = env.run(_prompt("sd15", UNET_CONTROLNETS["sdxl-original"][0]))
    assert result.status == "error"
    assert "another model" in str(result.error) and "cross-attention width 48" in str(result.error)
