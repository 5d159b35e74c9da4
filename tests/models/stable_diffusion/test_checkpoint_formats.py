"""SD 1.5 single files as they are found in the wild, through CheckpointLoaderSimple: with EMA copies
(``model_ema.*``, the training checkpoints' flattened names, ignored as ComfyUI does), stored in fp16,
and with float8_e4m3fn U-Net weights. Each gives the image diffusers' StableDiffusionPipeline gives with
the weights the file really holds (rounded to fp16 / fp8, computed in fp32), and the fp8 file the
image of its dequantized twin."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.stable_diffusion import build_tiny_unet_pipeline, ldm_tensors

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
TOLERANCE = 1 / 255
SIZE, STEPS, CFG, SEED = 64, 3, 7.0, 11
UNET = "model.diffusion_model."
FILES = {"plain": "sd15-plain.safetensors", "ema": "sd15-with-ema.safetensors", "fp16": "sd15-fp16.safetensors",
         "fp8": "sd15-unet-fp8.safetensors", "fp8-dequantized": "sd15-unet-fp8-dequantized.safetensors"}


def _fp8(name: str, tensor: torch.Tensor) -> bool:
    """fp8 checkpoints store the U-Net's matrices and kernels in fp8; biases and norms stay wider."""
    return name.startswith(UNET) and tensor.is_floating_point() and tensor.dim() >= 2


def _variants(tensors: dict) -> dict[str, dict]:
    generator = torch.Generator().manual_seed(1)
    ema = dict(tensors)
    ema["model_ema.decay"] = torch.tensor(0.9999)
    ema["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
    for name, tensor in tensors.items():
        if name.startswith(UNET):  # LDM's EMA names drop the dots: model_ema.diffusion_modelinput_blocks00weight
            flat = "model_ema.diffusion_model" + name.removeprefix(UNET).replace(".", "")
            ema[flat] = tensor + 0.5 * torch.randn(tensor.shape, generator=generator)
    fp16 = {k: (v.half() if v.is_floating_point() else v) for k, v in tensors.items()}
    fp8 = {k: (v.to(torch.float8_e4m3fn) if _fp8(k, v) else v) for k, v in fp16.items()}
    dequantized = {k: (v.float() if v.dtype == torch.float8_e4m3fn else v) for k, v in fp8.items()}
    return {"plain": tensors, "ema": ema, "fp16": fp16, "fp8": fp8, "fp8-dequantized": dequantized}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from safetensors.torch import save_file

    from tests.fixtures.zoo import CAPTURED, SD3Env, _capture_schemas

    base = tmp_path_factory.mktemp("sd15_formats")
    (base / "models" / "checkpoints").mkdir(parents=True)
    tensors, metadata = ldm_tensors(build_tiny_unet_pipeline("sd15"), "sd15")
    for key, variant in _variants(tensors).items():
        save_file({k: v.contiguous() for k, v in variant.items()}, str(base / "models" / "checkpoints" / FILES[key]),
                  metadata=metadata)
    environment = SD3Env(base / "base", base / "models", preview_method="none")
    environment.registry.add_all(_capture_schemas())
    environment.captured = CAPTURED
    yield environment
    environment.close()


def _image(env, key: str) -> np.ndarray:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": FILES[key]}},
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
    result = env.run(prompt)
    assert result.status == "success", str(result.error)[-1500:]
    return env.captured["image"].numpy()


def _pipeline_image(round_weights) -> np.ndarray:
    """StableDiffusionPipeline on the tiny components with every weight passed through ``round_weights``."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    components = build_tiny_unet_pipeline("sd15")
    with torch.no_grad():
        for part in ("unet", "vae", "text_encoder"):
            for name, parameter in components[part].named_parameters():
                parameter.copy_(round_weights(part, name, parameter))
    components["scheduler"] = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                     beta_schedule="scaled_linear", timestep_spacing="leading")
    pipeline = StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    sigmas = DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"]).schedule("normal", STEPS)
    return pipeline(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE,
                    sigmas=sigmas.tolist(), generator=torch.Generator("cpu").manual_seed(SEED),
                    output_type="np").images


def _fp16(part, name, tensor):
    return tensor.half().float()


def _fp8_unet(part, name, tensor):
    wide = tensor.half().float()
    return wide.to(torch.float8_e4m3fn).float() if part == "unet" and tensor.dim() >= 2 else wide


def test_ema_copies_are_ignored(env):
    assert np.array_equal(_image(env, "ema"), _image(env, "plain")), "the model.diffusion_model weights are used"


def test_fp16_file_gives_the_pipeline_image_of_its_weights(env):
    image = _image(env, "fp16")
    assert np.abs(image - _pipeline_image(_fp16)).max() <= TOLERANCE
    assert image.std() > 0.01


def test_fp8_file_gives_the_image_of_its_dequantized_twin(env):
    image = _image(env, "fp8")
    assert np.abs(image - _image(env, "fp8-dequantized")).max() <= 1e-6
    assert np.abs(image - _pipeline_image(_fp8_unet)).max() <= TOLERANCE
    assert np.abs(image - _image(env, "fp16")).max() > 1e-3, "fp8 rounding is visible: the weights are fp8"
