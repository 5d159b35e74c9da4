"""SD 1.5 / SDXL through the real registry, validator and runner: ComfyUI's
``script_examples/basic_api_example.py`` prompt (reproduced in ``basic_api_example_prompt.json``; the
script is not available here) on the demo SD 1.5 checkpoint renamed to its file name, the official
SDXL templates (pinned comfyui-workflow-templates-json), family detection and clear refusals."""
from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from models.demo.stable_diffusion import CHECKPOINTS

HERE = Path(__file__).resolve().parent
SDXL_TEMPLATES = ("image_sdxl_simple", "sdxl_simple_example", "sdxl_refiner_prompt_example", "sdxlturbo_example")


@pytest.fixture(scope="module")
def comfy_named_env(tmp_path_factory, demo_models_dir):
    """A models folder holding only the demo SD 1.5 file under ComfyUI's example name."""
    from tests.fixtures.zoo import SD3Env

    base = tmp_path_factory.mktemp("basic_api")
    models = base / "models"
    (models / "checkpoints").mkdir(parents=True)
    shutil.copyfile(demo_models_dir / "checkpoints" / CHECKPOINTS["sd15"],
                    models / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    env = SD3Env(base, models, preview_method="none")
    yield env
    env.close()


def test_basic_api_example_runs_unmodified(comfy_named_env):
    """The script's prompt with its own two edits (text of node 6, seed 5), nothing else changed:
    512x512, KSampler euler/normal, 20 steps, cfg 8, SaveImage."""
    from PIL import Image

    prompt = json.loads((HERE / "basic_api_example_prompt.json").read_text())
    prompt["6"]["inputs"]["text"] = "masterpiece best quality man"
    prompt["3"]["inputs"]["seed"] = 5
    result = comfy_named_env.run(prompt)
    assert result.status == "success", result.error
    saved = sorted(comfy_named_env.services.paths.output_dir.rglob("ComfyUI_*.png"))
    assert saved and Image.open(saved[-1]).size == (512, 512)


def template(name: str) -> dict:
    folder = resources.files("comfyui_workflow_templates_json") / "templates"
    return json.loads((folder / f"{name}.json").read_text())


@pytest.mark.parametrize("name", SDXL_TEMPLATES)
def test_official_sdxl_templates_validate_with_only_missing_weights_and_run(sd3_env, name):
    from execution.validate import validate_prompt
    from execution.workflow import load_any

    prompt, _, _ = load_any(template(name), sd3_env.registry)
    validation = validate_prompt(prompt, sd3_env.registry, sd3_env.services)
    errors = [error for entry in validation.node_errors.values() for error in entry["errors"]]
    assert errors, "the official model files are not installed, so their names must be reported"
    for error in errors:
        assert error["type"] == "value_not_in_list" and error["details"].startswith("ckpt_name"), error
    for entry in prompt.values():  # the demo SDXL file stands in for base and refiner; tiny settings
        inputs = entry["inputs"]
        if entry["class_type"] == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = CHECKPOINTS["sdxl_base"]
        if entry["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        if entry["class_type"] in ("KSampler", "KSamplerAdvanced"):
            inputs["steps"] = min(int(inputs["steps"]), 4)
            for key in ("start_at_step", "end_at_step"):
                if key in inputs:
                    inputs[key] = min(int(inputs[key]), 3 if key == "end_at_step" else 2)
    result = sd3_env.run(prompt)
    assert result.status == "success", result.error


def test_family_and_variant_are_read_from_the_files(demo_models_dir):
    from models.families import family_of
    from models.stable_diffusion.layout import variant_of
    from models.sd3.configs import shapes_of
    from models.sd3.files import read_header

    for variant, name in CHECKPOINTS.items():
        path = demo_models_dir / "checkpoints" / name
        assert family_of(path) == "stable_diffusion"
        assert variant_of(shapes_of(read_header(path)[0])) == variant


def test_sd2_checkpoints_are_refused_clearly(tmp_path):
    import torch
    from safetensors.torch import save_file

    from models.sd3.files import ModelFileError
    from models.stable_diffusion.loading import load_checkpoint

    path = tmp_path / "v2-1_768-ema-pruned.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3),
               "cond_stage_model.model.token_embedding.weight": torch.zeros(8, 4)}, str(path))
    with pytest.raises(ModelFileError, match="Stable Diffusion 2.x"):
        load_checkpoint(path, torch.float32)


def test_inpainting_resamples_only_the_masked_area(sd3_capture_env):
    """VAEEncodeForInpaint greys the masked pixels, grows the mask and attaches it; KSampler keeps the
    latent outside the mask exactly (SD 1.5); SetLatentNoiseMask does the same on a plain VAEEncode."""
    import torch

    from execution.declare import Out, node

    env = sd3_capture_env
    pixels = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:40, 24:48] = 1.0

    @node("TestInpaintInputs", category="_test", outputs=[Out("IMAGE"), Out("MASK")])
    def inputs():
        return pixels, mask

    env.registry.add(inputs.__node_schema__)
    ckpt = CHECKPOINTS["sd15"]
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cat", "clip": ["1", 1]}},
        "3": {"class_type": "TestInpaintInputs", "inputs": {}},
        "4": {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["3", 0], "vae": ["1", 2], "mask": ["3", 1],
                                                              "grow_mask_by": 6}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": 1, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "karras",
            "positive": ["2", 0], "negative": ["2", 0], "latent_image": ["4", 0], "denoise": 1.0}},
        "6": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["4", 0], "key": "encoded"}},
        "7": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "sampled"}},
        "8": {"class_type": "VAEEncode", "inputs": {"pixels": ["3", 0], "vae": ["1", 2]}},
        "9": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["8", 0], "mask": ["3", 1]}},
        "10": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": 1, "steps": 3, "cfg": 5.0, "sampler_name": "dpmpp_2m", "scheduler": "normal",
            "positive": ["2", 0], "negative": ["2", 0], "latent_image": ["9", 0], "denoise": 1.0}},
        "11": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["10", 0], "key": "masked"}},
        "12": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["8", 0], "key": "plain"}},
    }
    result = env.run(prompt)
    assert result.status == "success", result.error
    encoded, sampled = env.captured["encoded"], env.captured["sampled"]
    noise_mask = encoded["noise_mask"]
    assert noise_mask.shape == (1, 1, 64, 64)
    # a 6x6 dilation (padding 3) grows the mask by 2 pixels up/left and 3 down/right
    assert noise_mask[0, 0, 14:43, 22:51].eq(1).all()
    assert noise_mask.sum() == (43 - 14) * (51 - 22)
    keep = torch.nn.functional.interpolate(noise_mask, size=(8, 8), mode="bilinear") == 0
    outside = keep.expand_as(sampled["samples"])
    assert torch.equal(sampled["samples"][outside], encoded["samples"][outside])
    assert not torch.allclose(sampled["samples"][~outside], encoded["samples"][~outside])
    plain, masked = env.captured["plain"]["samples"], env.captured["masked"]["samples"]
    small = torch.nn.functional.interpolate(mask[:, None], size=(8, 8), mode="bilinear") == 0
    assert torch.equal(masked[small.expand_as(masked)], plain[small.expand_as(plain)])


def test_custom_sampling_equals_ksampler_on_sd15(sd3_capture_env):
    """SamplerCustomAdvanced (RandomNoise, CFGGuider, KSamplerSelect, BasicScheduler) gives KSampler's pixels;
    BetaSamplingScheduler reads the SD model's sigma table."""
    import numpy as np

    ckpt = CHECKPOINTS["sd15"]
    base = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cat", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blue", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "TestCaptureImage", "inputs": {"images": ["6", 0], "key": "image"}},
    }
    ksampler = dict(base, **{"5": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 2, "steps": 3, "cfg": 6.0, "sampler_name": "dpmpp_2m", "scheduler": "karras",
        "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}})
    assert sd3_capture_env.run(ksampler).status == "success"
    expected = sd3_capture_env.captured["image"].numpy()
    custom = dict(base, **{
        "5": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["10", 0], "guider": ["11", 0],
                                                                "sampler": ["12", 0], "sigmas": ["13", 0],
                                                                "latent_image": ["4", 0]}},
        "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": 2}},
        "11": {"class_type": "CFGGuider", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                     "cfg": 6.0}},
        "12": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}},
        "13": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "karras", "steps": 3,
                                                          "denoise": 1.0}},
        "14": {"class_type": "BetaSamplingScheduler", "inputs": {"model": ["1", 0], "steps": 3, "alpha": 0.6,
                                                                 "beta": 0.6}},
        "15": {"class_type": "PreviewAny", "inputs": {"source": ["14", 0]}},
    })
    result = sd3_capture_env.run(custom)
    assert result.status == "success", result.error
    assert np.abs(sd3_capture_env.captured["image"].numpy() - expected).max() <= 1e-6


@pytest.mark.parametrize("name", ["sd15_text_to_image_api", "sdxl_text_to_image_api"])
def test_shipped_workflows_run_headless(sd3_env, name):
    from execution.workflow import load_any

    root = Path(__file__).resolve().parents[3]
    prompt, _, warnings = load_any(json.loads((root / "workflows" / f"{name}.json").read_text()), sd3_env.registry)
    assert not warnings
    prompt["4"]["inputs"].update(width=64, height=64)
    prompt["5"]["inputs"]["steps"] = 3
    result = sd3_env.run(prompt)
    assert result.status == "success", result.error
    prefix = prompt["7"]["inputs"]["filename_prefix"]
    assert any(p.name.startswith(prefix) for p in sd3_env.services.paths.output_dir.rglob("*.png"))
