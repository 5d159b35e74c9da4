"""Loading FLUX.1 from disk, offline: diffusers folders (FluxPipeline layout or a transformer folder),
ComfyUI single files (``flux1-dev.safetensors`` in diffusion_models/, original BFL layout, plain,
fp8 or fp8_scaled), all-in-one checkpoints (``model.diffusion_model.``, ``first_stage_model.``,
``text_encoders.{clip_l,t5xxl}.transformer.``) and ``ae.safetensors``.

Text-encoder files, tokenizers and the VAE reuse the SD3 loaders (same CLIP-L, T5-XXL and
AutoencoderKL classes); only the transformer, its config and the latent scaling are FLUX's own.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import torch

from models.flux import configs
from models.flux.layout import TRANSFORMER_PREFIX, is_flux_transformer, transformer_from_diffusers, \
    transformer_to_diffusers
from models.flux.wrappers import FluxClip, FluxModel
from models.pickle_guard import from_pretrained_safely
from models.scaled_fp8 import dequantize_scaled_fp8
from models.sd3 import configs as sd3_configs
from models.sd3.files import ModelFileError, load_tensors, read_header, refuse_unsafe
from models.sd3.layout import TEXT_ENCODER_PREFIXES, VAE_PREFIX, strip_prefix
from models.sd3.loading import build_text_encoder, build_vae, empty_model, fill_model, find_tokenizer, \
    tokenizer_from_folder
from models.sd3.wrappers import SD3Clip, SD3Vae, TextEncoder

FLUX_ROLES = ("clip_l", "t5xxl")


def _read(path: Path, prefixes: tuple[str, ...] | None, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Tensors (optionally under prefixes), fp8_scaled weights multiplied out into ``dtype``."""
    try:
        return dequantize_scaled_fp8(load_tensors(path, prefixes), dtype, path.name)
    except ValueError as error:
        raise ModelFileError(str(error)) from error


def model_from_transformer(transformer, name: str, family: str, mu: float | None = None) -> FluxModel:
    sampling = configs.sampling_defaults(family, bool(transformer.config.guidance_embeds))
    model = FluxModel(transformer, name=name)
    return model.with_mu(float(sampling["mu"] if mu is None else mu))


def build_transformer(original: dict[str, torch.Tensor], path: Path, dtype: torch.dtype,
                      hints: dict | None = None) -> tuple[object, str]:
    from diffusers import FluxTransformer2DModel

    try:
        family, config = configs.pick_transformer_config(sd3_configs.shapes_of(original), hints)
    except (KeyError, ValueError, IndexError) as error:
        raise ModelFileError(f"{path.name}: not a FLUX diffusion model ({error}); expected tensors such as "
                             f"double_blocks.N.img_attn.qkv.weight") from error
    model = empty_model(lambda: FluxTransformer2DModel.from_config(config))
    return fill_model(model, transformer_to_diffusers(original), path, "FLUX transformer", dtype), family


def _mu_from(metadata: dict) -> float | None:
    return float(metadata["plexus.flux_mu"]) if "plexus.flux_mu" in metadata else None


def load_diffusion_model(path: Path, dtype: torch.dtype) -> FluxModel:
    """MODEL from a single file (original or diffusers layout, fp8 / fp8_scaled), a transformer folder
    or a FluxPipeline folder."""
    from diffusers import FluxTransformer2DModel

    refuse_unsafe(path)
    if path.is_dir():
        if (path / "model_index.json").is_file():
            return load_diffusers_pipeline(path, dtype)[0]
        try:
            transformer = from_pretrained_safely(FluxTransformer2DModel, path, torch_dtype=dtype)
        except (OSError, ValueError) as error:
            raise ModelFileError(f"{path.name}: could not load the FLUX transformer folder ({error})") from error
        family = "flux1_dev" if transformer.config.guidance_embeds else "flux1_schnell"
        return model_from_transformer(transformer.eval().requires_grad_(False), path.name, family)
    header, metadata = read_header(path)
    tensors = _read(path, None, dtype)
    if any(k.startswith("transformer_blocks.") for k in tensors):  # diffusers layout in one file
        tensors = transformer_from_diffusers(tensors)
    else:
        tensors = strip_prefix(tensors, TRANSFORMER_PREFIX) or tensors
    hints = sd3_configs.embedded_configs(metadata).get("transformer")
    transformer, family = build_transformer(tensors, path, dtype, hints)
    return model_from_transformer(transformer, path.name, family, _mu_from(metadata))


def load_checkpoint(path: Path, dtype: torch.dtype, tokenizer_dirs: Iterable[Path] = ()
                    ) -> tuple[FluxModel, FluxClip | None, SD3Vae | None]:
    """MODEL, CLIP (None without bundled text encoders) and VAE from an all-in-one file or a folder."""
    refuse_unsafe(path)
    if path.is_dir():
        return load_diffusers_pipeline(path, dtype)
    header, metadata = read_header(path)
    if not is_flux_transformer(header):
        raise ModelFileError(f"{path.name}: not a FLUX checkpoint; expected tensors under "
                             f"'{TRANSFORMER_PREFIX}double_blocks.'")
    hints = sd3_configs.embedded_configs(metadata)
    # One component at a time: peak memory stays near one component's size.
    raw = strip_prefix(_read(path, (TRANSFORMER_PREFIX,), dtype), TRANSFORMER_PREFIX) or \
        _read(path, ("double_blocks.", "single_blocks.", "img_in.", "txt_in.", "time_in.", "vector_in.",
                     "guidance_in.", "final_layer."), dtype)
    transformer, family = build_transformer(raw, path, dtype, hints.get("transformer"))
    del raw
    model = model_from_transformer(transformer, path.name, family, _mu_from(metadata))
    vae = None
    if any(k.startswith(VAE_PREFIX) for k in header):
        raw = strip_prefix(_read(path, (VAE_PREFIX,), dtype), VAE_PREFIX)
        vae_hints = dict(configs.vae_hints(), **hints.get("vae", {}))
        vae = SD3Vae(build_vae(raw, path, dtype, vae_hints), name=path.name)
        del raw
    roles = [r for r in FLUX_ROLES if any(k.startswith(TEXT_ENCODER_PREFIXES[r]) for k in header)]
    clip = None
    if roles:
        raw = _read(path, tuple(TEXT_ENCODER_PREFIXES[r] for r in roles), dtype)
        encoders = {}
        for role in roles:
            state = strip_prefix(raw, TEXT_ENCODER_PREFIXES[role])
            encoder = build_text_encoder(state, role, path, dtype, hints.get(role))
            tokenizer = find_tokenizer(role, metadata, [path.parent, *tokenizer_dirs])
            encoders[role] = TextEncoder(encoder, tokenizer, role)
        clip = FluxClip(**encoders, name=path.name)
    return model, clip, vae


def load_diffusers_pipeline(folder: Path, dtype: torch.dtype) -> tuple[FluxModel, FluxClip | None, SD3Vae | None]:
    """A FluxPipeline folder: transformer/, vae/, text_encoder/ (CLIP-L), text_encoder_2/ (T5)."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel

    try:
        transformer = from_pretrained_safely(FluxTransformer2DModel, folder / "transformer", torch_dtype=dtype)
        transformer = transformer.eval().requires_grad_(False)
        family = "flux1_dev" if transformer.config.guidance_embeds else "flux1_schnell"
        mu = None
        scheduler_file = folder / "scheduler" / "scheduler_config.json"
        if scheduler_file.is_file():
            scheduler = json.loads(scheduler_file.read_text())
            if not scheduler.get("use_dynamic_shifting", False):
                import math

                mu = math.log(float(scheduler.get("shift", 1.0)))
        model = model_from_transformer(transformer, folder.name, family, mu)
        vae = None
        if (folder / "vae").is_dir():
            vae = SD3Vae(from_pretrained_safely(AutoencoderKL, folder / "vae", torch_dtype=dtype).eval()
                         .requires_grad_(False), name=folder.name)
        encoders = {}
        for role, sub, tokenizer_sub, cls in (("clip_l", "text_encoder", "tokenizer", CLIPTextModel),
                                              ("t5xxl", "text_encoder_2", "tokenizer_2", T5EncoderModel)):
            if (folder / sub).is_dir():
                encoder = from_pretrained_safely(cls, folder / sub, torch_dtype=dtype).eval().requires_grad_(False)
                encoders[role] = TextEncoder(encoder, tokenizer_from_folder(folder / tokenizer_sub, role), role)
    except (OSError, ValueError, KeyError) as error:
        raise ModelFileError(f"{folder.name}: could not load the FLUX diffusers folder ({error})") from error
    clip = FluxClip(**encoders, name=folder.name) if encoders else None
    return model, clip, vae


def flux_clip_from(clip: SD3Clip) -> FluxClip:
    """DualCLIPLoader type flux: the loaded clip_l and t5xxl encoders as a FLUX CLIP."""
    if clip.clip_g is not None:
        raise ModelFileError("CLIP type 'flux' takes clip_l and t5xxl text encoders; a clip_g encoder was given "
                             "(clip_g belongs to SD3: use type 'sd3')")
    if clip.clip_l is None and clip.t5xxl is None:
        raise ModelFileError("CLIP type 'flux' needs a clip_l and/or a t5xxl text encoder")
    return FluxClip(clip_l=clip.clip_l, t5xxl=clip.t5xxl, name=clip.name, run_on_cpu=clip.run_on_cpu)
