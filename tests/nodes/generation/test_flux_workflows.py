"""FLUX through the real registry, validator and runner: the official templates (pinned
comfyui-workflow-templates-json), the shipped workflow, latent previews, fp8 / fp8_scaled files,
family detection and clear errors."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from models.demo.flux import CHECKPOINT, DIFFUSERS_FOLDERS, DIFFUSION_MODELS, VAE
from models.demo.sd3 import TEXT_ENCODERS

ROOT = Path(__file__).resolve().parents[3]
MODEL_INPUTS = ("ckpt_name", "unet_name", "clip_name1", "clip_name2", "vae_name")
# Official names -> the demo's tiny files.
SUBSTITUTES = {
    "flux1-schnell-fp8.safetensors": DIFFUSERS_FOLDERS["schnell"], "flux1-dev-fp8.safetensors": CHECKPOINT,
    "flux1-dev.safetensors": DIFFUSION_MODELS["dev"], "flux1-schnell.safetensors": DIFFUSION_MODELS["schnell"],
    "clip_l.safetensors": TEXT_ENCODERS["clip_l"], "t5xxl_fp16.safetensors": TEXT_ENCODERS["t5xxl"],
    "ae.safetensors": VAE,
}
TEMPLATES = ("flux_schnell", "flux_schnell_full_text_to_image", "flux_dev_checkpoint_example",
             "flux_dev_full_text_to_image")  # the flux_dev ones wrap their graph in a subgraph


def template(name: str) -> dict:
    folder = resources.files("comfyui_workflow_templates_json") / "templates"
    return json.loads((folder / f"{name}.json").read_text())


def shrink(prompt: dict) -> dict:
    """Tiny-model settings: 64 px, 2 steps (the graph is otherwise the template's)."""
    for entry in prompt.values():
        inputs = entry["inputs"]
        if entry["class_type"] in ("EmptySD3LatentImage", "EmptyLatentImage", "ModelSamplingFlux"):
            inputs.update(width=64, height=64)
        if entry["class_type"] == "KSampler":
            inputs["steps"] = 2
    return prompt


@pytest.mark.parametrize("name", TEMPLATES)
def test_official_template_converts_validates_and_runs(sd3_env, name):
    from execution.validate import validate_prompt
    from execution.workflow import load_any

    prompt, _, _ = load_any(template(name), sd3_env.registry)
    validation = validate_prompt(prompt, sd3_env.registry, sd3_env.services)
    errors = [(entry["class_type"], error) for entry in validation.node_errors.values() for error in entry["errors"]]
    assert errors, "the official model files are not installed, so their names must be reported"
    for class_type, error in errors:  # only the missing weights
        assert error["type"] == "value_not_in_list" and error["details"].split(":")[0] in MODEL_INPUTS, \
            (class_type, error)
    for entry in prompt.values():
        for key in MODEL_INPUTS:
            if isinstance(entry["inputs"].get(key), str):
                entry["inputs"][key] = SUBSTITUTES[entry["inputs"][key]]
    result = sd3_env.run(shrink(prompt))
    assert result.status == "success", result.error
    saved = list((sd3_env.services.paths.output_dir).rglob("*.png"))
    assert saved, "SaveImage wrote no file"


def test_shipped_workflow_runs_headless(sd3_env):
    from execution.workflow import load_any

    workflow = json.loads((ROOT / "workflows" / "flux_text_to_image.json").read_text())
    prompt, _, warnings = load_any(workflow, sd3_env.registry)
    assert not warnings
    result = sd3_env.run(shrink(prompt))
    assert result.status == "success", result.error
    assert any(p.name.startswith("plexus-flux-demo") for p in sd3_env.services.paths.output_dir.rglob("*.png"))


def _call(env, name, ctx=None, **inputs):
    result = env.registry.get(name).invoke(None, ctx or env.context(), inputs)
    return result["result"] if isinstance(result, dict) else result


def test_latent_previews_every_step(sd3_env):
    model, clip, _ = _call(sd3_env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    assert model.transformer_options.get("preview_vae") is not None
    positive = _call(sd3_env, "CLIPTextEncode", clip=clip, text="a red cat")[0]
    events: list = []
    latent = {"samples": torch.zeros(1, 16, 8, 8)}
    _call(sd3_env, "KSampler", ctx=sd3_env.context(events), model=model, seed=1, steps=3, cfg=1.0,
          sampler_name="euler", scheduler="simple", positive=positive, negative=positive, latent_image=latent)
    progress = [e for e in events if e.type == "progress"]
    assert [e.value for e in progress] == [1, 2, 3]
    assert all(e.preview is not None and e.preview.size == (8, 8) for e in progress)


def test_family_is_read_from_the_files(sd3_env, demo_models_dir):
    from models.families import family_of
    from models.demo.sd3 import CHECKPOINT as SD3_CHECKPOINT

    assert family_of(demo_models_dir / "diffusion_models" / DIFFUSION_MODELS["dev"]) == "flux"
    assert family_of(demo_models_dir / "checkpoints" / CHECKPOINT) == "flux"
    assert family_of(demo_models_dir / "checkpoints" / DIFFUSERS_FOLDERS["schnell"]) == "flux"
    assert family_of(demo_models_dir / "checkpoints" / SD3_CHECKPOINT) == "sd3"
    dev = _call(sd3_env, "UNETLoader", unet_name=DIFFUSION_MODELS["dev"], weight_dtype="default")[0]
    schnell = _call(sd3_env, "UNETLoader", unet_name=DIFFUSION_MODELS["schnell"], weight_dtype="default")[0]
    assert dev.family == "flux" and dev.guidance_embeds and not schnell.guidance_embeds
    assert abs(dev.shift - np.exp(1.15)) < 1e-6 and schnell.shift == 1.0  # ComfyUI's defaults per variant
    vae = _call(sd3_env, "VAELoader", vae_name=VAE)[0]
    assert (vae.scaling_factor, vae.shift_factor) == (0.3611, 0.1159)  # FLUX's, from the name


def test_flux_nodes_refuse_other_families_clearly(sd3_env):
    from models.demo.sd3 import CHECKPOINT as SD3_CHECKPOINT

    sd3_model, sd3_clip, _ = _call(sd3_env, "CheckpointLoaderSimple", ckpt_name=SD3_CHECKPOINT)
    with pytest.raises(ValueError, match="not a FLUX MODEL"):
        _call(sd3_env, "ModelSamplingFlux", model=sd3_model, max_shift=1.15, base_shift=0.5, width=64, height=64)
    with pytest.raises(ValueError, match="not a FLUX CLIP"):
        _call(sd3_env, "CLIPTextEncodeFlux", clip=sd3_clip, clip_l="a", t5xxl="a", guidance=3.5)
    flux_clip = _call(sd3_env, "DualCLIPLoader", clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["t5xxl"],
                      type="flux")[0]
    with pytest.raises(ValueError, match="CLIPTextEncodeFlux"):
        _call(sd3_env, "CLIPTextEncodeSD3", clip=flux_clip, clip_l="a", clip_g="a", t5xxl="a", empty_padding="none")
    positive = _call(sd3_env, "CLIPTextEncode", clip=flux_clip, text="a")[0]
    hinted = [[positive[0][0], dict(positive[0][1], control=object())]]
    flux_model = _call(sd3_env, "UNETLoader", unet_name=DIFFUSION_MODELS["schnell"], weight_dtype="default")[0]
    with pytest.raises(ValueError, match="ControlNet hints are not supported with FLUX"):
        _call(sd3_env, "KSampler", model=flux_model, seed=1, steps=1, cfg=1.0, sampler_name="euler",
              scheduler="simple", positive=hinted, negative=hinted, latent_image={"samples": torch.zeros(1, 16, 8, 8)})
    with pytest.raises(ValueError, match="clip_g"):
        _call(sd3_env, "DualCLIPLoader", clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["clip_g"],
              type="flux")


def _to_fp8_scaled(source: Path, target: Path) -> Path:
    """A Comfy-Org style fp8_scaled file: every 2-D weight as e4m3fn with a per-tensor scale_weight."""
    from safetensors.torch import load_file, save_file

    tensors, scaled = load_file(str(source)), {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}
    for name, tensor in tensors.items():
        if name.endswith(".weight") and tensor.dim() == 2:
            scale = tensor.abs().max().float() / 448.0
            scaled[name] = (tensor / scale).to(torch.float8_e4m3fn)
            scaled[name[:-len("weight")] + "scale_weight"] = scale
        else:
            scaled[name] = tensor
    from safetensors import safe_open

    with safe_open(str(source), "pt") as handle:
        metadata = handle.metadata()
    save_file(scaled, str(target), metadata=metadata)
    return target


def test_fp8_scaled_file_dequantizes_to_the_scaled_weights(sd3_env, demo_models_dir):
    from models.flux.loading import load_diffusion_model

    source = demo_models_dir / "diffusion_models" / DIFFUSION_MODELS["dev"]
    scaled_file = _to_fp8_scaled(source, sd3_env.services.paths.base_dir / "flux1-dev-fp8_scaled.safetensors")
    original = load_diffusion_model(source, torch.float32).transformer.state_dict()
    loaded = load_diffusion_model(scaled_file, torch.float32).transformer.state_dict()
    errors = [((loaded[k] - original[k]).abs().max() / original[k].abs().max().clamp(min=1e-12)).item()
              for k in original if original[k].dim() == 2]
    assert max(errors) < 0.07  # e4m3fn keeps 3 mantissa bits: relative rounding <= 1/16
    assert all(torch.equal(loaded[k], original[k]) for k in original if original[k].dim() != 2)


def test_text_encoders_on_cpu_encode_the_same(sd3_env):
    names = dict(clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["t5xxl"], type="flux")
    default = _call(sd3_env, "DualCLIPLoader", **names)[0]
    on_cpu = _call(sd3_env, "DualCLIPLoader", **names, device="cpu")[0]
    assert on_cpu.run_on_cpu and not default.run_on_cpu
    first = _call(sd3_env, "CLIPTextEncodeFlux", clip=default, clip_l="a cat", t5xxl="a cat", guidance=2.0)[0]
    second = _call(sd3_env, "CLIPTextEncodeFlux", clip=on_cpu, clip_l="a cat", t5xxl="a cat", guidance=2.0)[0]
    assert torch.equal(first[0][0], second[0][0]) and first[0][1]["guidance"] == 2.0
    assert torch.equal(first[0][1]["pooled_output"], second[0][1]["pooled_output"])


def test_unet_loader_fp8_weight_dtype_runs(sd3_env):
    model = _call(sd3_env, "UNETLoader", unet_name=DIFFUSION_MODELS["schnell"], weight_dtype="fp8_e4m3fn")[0]
    assert any(p.dtype == torch.float8_e4m3fn for p in model.transformer.parameters())
    clip = _call(sd3_env, "DualCLIPLoader", clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["t5xxl"],
                 type="flux")[0]
    positive = _call(sd3_env, "CLIPTextEncode", clip=clip, text="a red cat")[0]
    latent = _call(sd3_env, "KSampler", model=model, seed=1, steps=2, cfg=1.0, sampler_name="euler",
                   scheduler="simple", positive=positive, negative=positive,
                   latent_image={"samples": torch.zeros(1, 16, 8, 8)})[0]
    assert torch.isfinite(latent["samples"]).all() and latent["samples"].std() > 0.01
