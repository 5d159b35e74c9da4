"""Tiny random-weight FLUX.1 models for smoke tests, written into ``models/``.

RANDOM WEIGHTS: the files prove that the graphs run end to end; the images are noise. Written:

- ``diffusion_models/plexus-demo-flux1-{dev,schnell}-tiny-RANDOM.safetensors``: the transformers in
  the original (BFL / ComfyUI) key layout, for UNETLoader;
- ``checkpoints/plexus-demo-flux1-dev-tiny-RANDOM.safetensors``: an all-in-one file (transformer,
  VAE, CLIP-L, T5) as ComfyUI saves them, tokenizers and configs in its metadata;
- ``checkpoints/plexus-demo-flux1-{dev,schnell}-tiny-RANDOM-diffusers/``: the same weights as
  ``FluxPipeline`` folders;
- ``vae/plexus-demo-flux-ae-tiny-RANDOM.safetensors``: the VAE alone (LDM layout, like ae.safetensors).

The text encoders are the SD3 demo's CLIP-L and T5 (the same seed gives the same weights), so the
SD3 demo's ``text_encoders/`` files serve ``DualCLIPLoader`` type flux, as real clip_l/t5xxl files do.
Sizes: T5 width 64 = ``joint_attention_dim``, CLIP-L width 16 = ``pooled_projection_dim``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from models.demo.sd3 import (DEMO_LABEL, VAE_CONFIG, _clip_hints, _encoder_state, _save, _tokenizer_payload,
                             build_tiny_sd3)

DEMO_VERSION = 1
VARIANTS = ("dev", "schnell")
CHECKPOINT = "plexus-demo-flux1-dev-tiny-RANDOM.safetensors"
DIFFUSION_MODELS = {v: f"plexus-demo-flux1-{v}-tiny-RANDOM.safetensors" for v in VARIANTS}
DIFFUSERS_FOLDERS = {v: f"plexus-demo-flux1-{v}-tiny-RANDOM-diffusers" for v in VARIANTS}
VAE = "plexus-demo-flux-ae-tiny-RANDOM.safetensors"
STAMP = ".plexus-demo-flux.json"

TRANSFORMER_CONFIG: dict[str, Any] = dict(
    patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
    joint_attention_dim=64, pooled_projection_dim=16, axes_dims_rope=(4, 6, 6))
FLUX_VAE_CONFIG: dict[str, Any] = dict(VAE_CONFIG, scaling_factor=0.3611, shift_factor=0.1159)
SCHEDULERS = {"dev": dict(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                          base_image_seq_len=256, max_image_seq_len=4096),
              "schnell": dict(shift=1.0, use_dynamic_shifting=False)}


def build_tiny_flux(variant: str = "dev", seed: int = 5) -> dict[str, Any]:
    """FluxPipeline components: tiny transformer (guidance input for dev), VAE, CLIP-L, T5, tokenizers."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextModel

    sd3 = build_tiny_sd3()
    clip_l = CLIPTextModel(sd3["text_encoder"].config)
    clip_l.load_state_dict(sd3["text_encoder"].text_model.state_dict())  # FLUX's CLIP-L: no projection
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dev = FluxTransformer2DModel(**TRANSFORMER_CONFIG, guidance_embeds=True)
        schnell = FluxTransformer2DModel(**TRANSFORMER_CONFIG, guidance_embeds=False)
        vae = AutoencoderKL(**FLUX_VAE_CONFIG)
    return {"transformer": (dev if variant == "dev" else schnell).eval(), "vae": vae.eval(),
            "text_encoder": clip_l.eval(), "text_encoder_2": sd3["text_encoder_3"],
            "tokenizer": sd3["tokenizer"], "tokenizer_2": sd3["tokenizer_3"],
            "scheduler": FlowMatchEulerDiscreteScheduler(**SCHEDULERS[variant])}


def _transformer_tensors(components: dict) -> dict:
    from models.flux.layout import transformer_from_diffusers

    state = {k: v.detach().contiguous() for k, v in components["transformer"].state_dict().items()}
    return transformer_from_diffusers(state)


def _transformer_hints() -> dict:
    return {"axes_dims_rope": list(TRANSFORMER_CONFIG["axes_dims_rope"])}


def write_diffusion_model(components: dict, path: Path) -> Path:
    metadata = {"plexus.note": DEMO_LABEL, "plexus.config": json.dumps({"transformer": _transformer_hints()})}
    _save({k: v.contiguous().clone() for k, v in _transformer_tensors(components).items()}, metadata, path)
    return path


def write_vae(components: dict, path: Path) -> Path:
    """LDM layout without scaling metadata: the loader takes FLUX's scaling from the name, as for ae.safetensors."""
    from models.sd3.layout import vae_from_diffusers

    state = {k: v.detach().contiguous() for k, v in components["vae"].state_dict().items()}
    tensors = vae_from_diffusers(state, len(FLUX_VAE_CONFIG["block_out_channels"]))
    metadata = {"plexus.note": DEMO_LABEL,
                "plexus.config": json.dumps({"vae": {"norm_num_groups": FLUX_VAE_CONFIG["norm_num_groups"],
                                                     "sample_size": 64}})}
    _save({k: v.contiguous().clone() for k, v in tensors.items()}, metadata, path)
    return path


def write_checkpoint(components: dict, path: Path) -> Path:
    """All-in-one, as ComfyUI saves FLUX checkpoints."""
    from models.flux.layout import TRANSFORMER_PREFIX
    from models.sd3.layout import TEXT_ENCODER_PREFIXES, VAE_PREFIX, add_prefix, vae_from_diffusers

    tensors = add_prefix(_transformer_tensors(components), TRANSFORMER_PREFIX)
    vae_state = {k: v.detach().contiguous() for k, v in components["vae"].state_dict().items()}
    tensors.update(add_prefix(vae_from_diffusers(vae_state, len(FLUX_VAE_CONFIG["block_out_channels"])), VAE_PREFIX))
    clip_state = _encoder_state(components["text_encoder"])  # transformers 5 drops CLIPTextModel's "text_model."
    clip_state = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in clip_state.items()}
    tensors.update(add_prefix(clip_state, TEXT_ENCODER_PREFIXES["clip_l"]))
    tensors.update(add_prefix(_encoder_state(components["text_encoder_2"]), TEXT_ENCODER_PREFIXES["t5xxl"]))
    hints = {"transformer": _transformer_hints(), "clip_l": _clip_hints(components["text_encoder"]),
             "vae": {"norm_num_groups": FLUX_VAE_CONFIG["norm_num_groups"], "sample_size": 64}}
    metadata = {"plexus.note": DEMO_LABEL, "plexus.config": json.dumps(hints),
                "plexus.tokenizer.clip_l": _tokenizer_payload(components["tokenizer"]),
                "plexus.tokenizer.t5xxl": _tokenizer_payload(components["tokenizer_2"])}
    _save({k: v.contiguous().clone() for k, v in tensors.items()}, metadata, path)
    return path


def write_diffusers_folder(components: dict, folder: Path) -> Path:
    from diffusers import FluxPipeline

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    FluxPipeline(**components).save_pretrained(str(partial))
    (partial / "RANDOM-WEIGHTS.txt").write_text(DEMO_LABEL + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder


def demo_paths(models_dir: Path) -> dict[str, Path]:
    paths = {"checkpoint": models_dir / "checkpoints" / CHECKPOINT, "vae": models_dir / "vae" / VAE}
    for variant in VARIANTS:
        paths[f"{variant}_model"] = models_dir / "diffusion_models" / DIFFUSION_MODELS[variant]
        paths[f"{variant}_diffusers"] = models_dir / "checkpoints" / DIFFUSERS_FOLDERS[variant]
    return paths


def demo_flux_present(models_dir: Path) -> bool:
    try:
        version = json.loads((models_dir / STAMP).read_text()).get("version")
    except (OSError, ValueError):
        return False
    return version == DEMO_VERSION and all(p.exists() for p in demo_paths(models_dir).values())


def write_demo_flux(models_dir: str | Path, force: bool = False) -> list[Path]:
    """Write the tiny FLUX files (skipped when present unless ``force``); returns the paths written."""
    models_dir = Path(models_dir)
    if not force and demo_flux_present(models_dir):
        return []
    paths = demo_paths(models_dir)
    written = []
    for variant in VARIANTS:
        components = build_tiny_flux(variant)
        written += [write_diffusion_model(components, paths[f"{variant}_model"]),
                    write_diffusers_folder(components, paths[f"{variant}_diffusers"])]
        if variant == "dev":
            written += [write_checkpoint(components, paths["checkpoint"]), write_vae(components, paths["vae"])]
    (models_dir / STAMP).write_text(json.dumps({"version": DEMO_VERSION, "label": DEMO_LABEL}))
    return written
