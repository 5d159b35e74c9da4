"""Loading SD 1.x / SDXL from disk, offline: single files in ComfyUI's layout (original LDM names,
with or without EMA copies, fp16/fp32/fp8; U-Net alone in diffusion_models/) and diffusers folders
(StableDiffusionPipeline / StableDiffusionXLPipeline layout, or a UNet2DConditionModel folder).

The variant is read from tensor names and shapes (``layout.variant_of``); SD 2.x is refused.
LDM tensors are converted with diffusers' own single-file converters.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import torch

from models.sd3 import configs as sd3_configs
from models.sd3.files import ModelFileError, load_tensors, read_header, refuse_unsafe
from models.sd3.loading import build_text_encoder, build_vae, empty_model, fill_model, find_tokenizer, \
    tokenizer_from_folder
from models.sd3.wrappers import SD3Vae, TextEncoder
from models.stable_diffusion import configs, layout
from models.stable_diffusion.fast_layers import speed_up
from models.stable_diffusion.schedule import DiscreteSchedule
from models.stable_diffusion.wrappers import UNetClip, UNetModel

CLIP_PREFIXES = {"sd15": {"clip_l": layout.SD1_CLIP_PREFIX},
                 "sdxl_base": {"clip_l": layout.SDXL_CLIP_L_PREFIX, "clip_g": layout.SDXL_CLIP_G_PREFIX},
                 "sdxl_refiner": {"clip_g": layout.REFINER_CLIP_G_PREFIX}}


def _variant(shapes: dict, path: Path) -> str:
    try:
        return layout.variant_of(shapes)
    except layout.UnsupportedVariant as error:
        raise ModelFileError(f"{path.name}: {error}") from error


def _read(path: Path, prefixes: tuple[str, ...] | None, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Tensors under prefixes; fp8 weights are upcast to ``dtype`` (the U-Net computes in it)."""
    tensors = load_tensors(path, prefixes)
    return {k: (v.to(dtype) if v.is_floating_point() and v.element_size() == 1 else v) for k, v in tensors.items()}


def model_from_unet(unet, variant: str, name: str) -> UNetModel:
    schedule = DiscreteSchedule.from_settings(configs.variant_settings(variant)["schedule"])
    return UNetModel(speed_up(unet), variant=variant, sampling=schedule, name=name)


def build_unet(original: dict[str, torch.Tensor], variant: str, path: Path, dtype: torch.dtype,
               hints: dict | None = None):
    from diffusers import UNet2DConditionModel

    try:
        config = configs.infer_unet_config(sd3_configs.shapes_of(original), variant, hints)
        converted = layout.unet_to_diffusers(original, config)
    except (KeyError, ValueError, IndexError, StopIteration) as error:
        raise ModelFileError(f"{path.name}: not an SD 1.x / SDXL U-Net ({error!r}); expected LDM tensors such as "
                             f"input_blocks.N...") from error
    model = empty_model(lambda: UNet2DConditionModel.from_config(config))
    return fill_model(model, converted, path, "U-Net", dtype)


def _unet_tensors(path: Path, dtype: torch.dtype, header: dict) -> dict[str, torch.Tensor]:
    if any(k.startswith(layout.UNET_PREFIX) for k in header):
        # EMA copies (model_ema.*, in some training checkpoints) are not read; ComfyUI uses these weights too
        return layout.strip(_read(path, (layout.UNET_PREFIX,), dtype), layout.UNET_PREFIX)
    return _read(path, ("input_blocks.", "middle_block.", "output_blocks.", "time_embed.", "label_emb.", "out."),
                 dtype)


def load_diffusion_model(path: Path, dtype: torch.dtype) -> UNetModel:
    """MODEL from a U-Net file (LDM names, with or without ``model.diffusion_model.``) or folder."""
    refuse_unsafe(path)
    if path.is_dir():
        return load_diffusers_folder(path, dtype)[0]
    header, metadata = read_header(path)
    shapes = sd3_configs.shapes_of(header)
    variant = _variant(shapes, path)
    hints = sd3_configs.embedded_configs(metadata)
    unet = build_unet(_unet_tensors(path, dtype, header), variant, path, dtype, hints.get("unet"))
    return model_from_unet(unet, variant, path.name)


def load_checkpoint(path: Path, dtype: torch.dtype, tokenizer_dirs: Iterable[Path] = ()
                    ) -> tuple[UNetModel, UNetClip | None, SD3Vae | None]:
    """MODEL, CLIP and VAE from an all-in-one LDM file or a diffusers folder."""
    refuse_unsafe(path)
    if path.is_dir():
        return load_diffusers_folder(path, dtype)
    header, metadata = read_header(path)
    variant = _variant(sd3_configs.shapes_of(header), path)
    hints = sd3_configs.embedded_configs(metadata)
    unet = build_unet(_unet_tensors(path, dtype, header), variant, path, dtype, hints.get("unet"))
    model = model_from_unet(unet, variant, path.name)
    vae = None
    if any(k.startswith(layout.VAE_PREFIX) for k in header):
        raw = layout.strip(_read(path, (layout.VAE_PREFIX,), dtype), layout.VAE_PREFIX)
        vae = SD3Vae(speed_up(build_vae(raw, path, dtype, configs.vae_hints(variant, hints.get("vae")))),
                     name=path.name)
    encoders = {}
    for role, prefix in CLIP_PREFIXES[variant].items():
        if not any(k.startswith(prefix) for k in header):
            continue
        raw = _read(path, (prefix,), dtype)
        state = layout.clip_l_to_diffusers(raw) if role == "clip_l" else layout.clip_g_to_diffusers(raw, prefix)
        encoder = build_text_encoder(state, role, path, dtype, configs.clip_hints(variant, role, hints.get(role)))
        tokenizer = find_tokenizer(role, metadata, [path.parent, *tokenizer_dirs])
        encoders[role] = TextEncoder(encoder, tokenizer, role)
    clip = UNetClip(variant, **encoders, name=path.name) if encoders else None
    return model, clip, vae


def _folder_variant(unet_config: dict) -> str:
    if unet_config.get("addition_embed_type") == "text_time":
        return "sdxl_refiner" if int(unet_config.get("cross_attention_dim", 0)) == 1280 else "sdxl_base"
    if int(unet_config.get("cross_attention_dim", 768)) == 1024:
        raise ValueError("a Stable Diffusion 2.x U-Net (1024-wide cross-attention, v-prediction); Plexus runs "
                         "SD 1.x and SDXL U-Nets only")
    return "sd15"


def load_diffusers_folder(folder: Path, dtype: torch.dtype) -> tuple[UNetModel, UNetClip | None, SD3Vae | None]:
    """A StableDiffusion(XL)Pipeline folder (unet/, vae/, text_encoder/, text_encoder_2/, tokenizers) or a
    bare UNet2DConditionModel folder."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection

    unet_folder = folder / "unet" if (folder / "unet").is_dir() else folder
    try:
        variant = _folder_variant(json.loads((unet_folder / "config.json").read_text()))
        unet = UNet2DConditionModel.from_pretrained(str(unet_folder), torch_dtype=dtype).eval().requires_grad_(False)
        vae = None
        if (folder / "vae").is_dir():
            vae = SD3Vae(speed_up(AutoencoderKL.from_pretrained(str(folder / "vae"), torch_dtype=dtype)
                                           .eval().requires_grad_(False)), name=folder.name)
        encoders = {}
        subfolders = [("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")]
        roles = {"sd15": ["clip_l"], "sdxl_base": ["clip_l", "clip_g"], "sdxl_refiner": ["clip_g"]}[variant]
        for role, (sub, tokenizer_sub) in zip(roles, subfolders if variant != "sdxl_refiner" else subfolders[1:]):
            if (folder / sub).is_dir():
                encoder = CLIPTextModelWithProjection.from_pretrained(str(folder / sub), torch_dtype=dtype)
                encoders[role] = TextEncoder(encoder.eval().requires_grad_(False),
                                             tokenizer_from_folder(folder / tokenizer_sub, role), role)
    except (OSError, ValueError, KeyError) as error:
        raise ModelFileError(f"{folder.name}: could not load the Stable Diffusion diffusers folder "
                             f"({error})") from error
    clip = UNetClip(variant, **encoders, name=folder.name) if encoders else None
    return model_from_unet(unet, variant, folder.name), clip, vae
