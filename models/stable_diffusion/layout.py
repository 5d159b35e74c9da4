"""SD 1.x / SDXL single files in the original LDM layout: which family a file holds (from tensor names
and shapes, nothing loaded), and the conversions between LDM and diffusers key names.

LDM -> diffusers is diffusers' own converter (``diffusers.loaders.single_file_utils``); the inverse,
diffusers -> LDM, is written here for the demo and tests and proved by round-tripping through
diffusers' converter (``tests/models/stable_diffusion/test_layout.py``).
"""
from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Mapping

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_CLIP_PREFIX = "cond_stage_model.transformer."
SD2_CLIP_PREFIX = "cond_stage_model.model."
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_CLIP_G_PREFIX = "conditioner.embedders.1.model."
REFINER_CLIP_G_PREFIX = "conditioner.embedders.0.model."
VARIANTS = ("sd15", "sdxl_base", "sdxl_refiner")


class UnsupportedVariant(ValueError):
    """A recognised U-Net family Plexus does not run (SD 2.x)."""


def _context_width(names_and_shapes: Mapping[str, tuple]) -> int | None:
    for name, shape in names_and_shapes.items():
        if name.endswith("attn2.to_k.weight"):
            return int(shape[1])
    return None


def is_unet(names) -> bool:
    return any(n.startswith(UNET_PREFIX + "input_blocks.") or n.startswith("input_blocks.") for n in names)


def variant_of(shapes: Mapping[str, tuple]) -> str:
    """sd15, sdxl_base or sdxl_refiner from tensor names and shapes; SD 2.x is refused."""
    names = shapes.keys()
    if any(n.startswith(SD2_CLIP_PREFIX) for n in names):
        raise UnsupportedVariant("this is a Stable Diffusion 2.x checkpoint (OpenCLIP-H text encoder under "
                                 "cond_stage_model.model., v-prediction); Plexus runs SD 1.x and SDXL U-Nets only")
    if any(n.startswith(SDXL_CLIP_G_PREFIX) for n in names):
        return "sdxl_base"
    if any(n.startswith(REFINER_CLIP_G_PREFIX) for n in names):
        return "sdxl_refiner"
    if any(n.startswith(SD1_CLIP_PREFIX) for n in names):
        return "sd15"
    width = _context_width(shapes)  # a U-Net without text encoders: read the cross-attention width
    has_label_emb = any("label_emb." in n for n in names)
    if has_label_emb:
        return "sdxl_refiner" if width == 1280 else "sdxl_base"
    if width == 1024:
        raise UnsupportedVariant("this U-Net has 1024-wide cross-attention (Stable Diffusion 2.x, v-prediction); "
                                 "Plexus runs SD 1.x and SDXL U-Nets only")
    return "sd15"


def strip(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


# -- LDM -> diffusers (diffusers' converters) ---------------------------------------------------------
def unet_to_diffusers(original: Mapping[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """U-Net tensors in LDM names (with or without ``model.diffusion_model.``) in diffusers' names."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    prefixed = {UNET_PREFIX + k.removeprefix(UNET_PREFIX): v for k, v in original.items()}
    return convert_ldm_unet_checkpoint(prefixed, config)


def clip_l_to_diffusers(original: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIP-L under ``cond_stage_model.transformer.`` / ``conditioner.embedders.0.transformer.``."""
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint

    state = convert_ldm_clip_checkpoint(dict(original))
    # very old SD 1.x files lack the ``text_model.`` level
    return {(k if k.startswith("text_model.") or k.startswith("text_projection") else "text_model." + k): v
            for k, v in state.items() if not k.endswith("position_ids")}


def clip_g_to_diffusers(original: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """OpenCLIP-G (``...model.transformer.resblocks.N...``) in transformers' CLIPTextModelWithProjection names."""
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    width = int(original[prefix + "token_embedding.weight"].shape[1])
    # the converter asks the text model only for its width when the file has no text_projection
    text_model = SimpleNamespace(config=SimpleNamespace(hidden_size=width))
    return convert_open_clip_checkpoint(text_model, dict(original), prefix=prefix)


# -- diffusers -> LDM (written here; tests prove it against the converters above) ---------------------
_RESNET_PARTS = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
                 "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}


def _resnet(rest: str) -> str:
    part, _, tail = rest.partition(".")
    return f"{_RESNET_PARTS.get(part, part)}.{tail}"


def unet_from_diffusers(state: Mapping[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """A diffusers UNet2DConditionModel state dict in LDM names (no prefix)."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    top = dict(DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"], **DIFFUSERS_TO_LDM_MAPPING["unet"]["addition_embed_type"])
    per_level = int(config["layers_per_block"]) + 1
    up_has_attention = ["CrossAttn" in kind for kind in config["up_block_types"]]
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if name in top:
            out[top[name]] = tensor
            continue
        match = re.match(r"(down|up)_blocks\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)", name)
        if match:
            side, level, kind, index, rest = match.groups()
            level, index = int(level), int(index)
            if side == "down":
                block = per_level * level + index + 1
                if kind == "downsamplers":
                    out[f"input_blocks.{per_level * (level + 1)}.0.op.{rest.removeprefix('conv.')}"] = tensor
                else:
                    inner = _resnet(rest) if kind == "resnets" else rest
                    out[f"input_blocks.{block}.{0 if kind == 'resnets' else 1}.{inner}"] = tensor
            else:
                block = per_level * level + index
                if kind == "upsamplers":
                    slot = 2 if up_has_attention[level] else 1
                    out[f"output_blocks.{per_level * level + per_level - 1}.{slot}.{rest}"] = tensor
                else:
                    inner = _resnet(rest) if kind == "resnets" else rest
                    out[f"output_blocks.{block}.{0 if kind == 'resnets' else 1}.{inner}"] = tensor
            continue
        match = re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", name)
        if match:
            kind, index, rest = match.groups()
            slot = 1 if kind == "attentions" else 2 * int(index)
            out[f"middle_block.{slot}.{_resnet(rest) if kind == 'resnets' else rest}"] = tensor
            continue
        raise ValueError(f"no LDM name for U-Net tensor {name!r}")
    return out


def clip_g_from_diffusers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIPTextModelWithProjection tensors in OpenCLIP names (no prefix), q/k/v fused into ``in_proj``."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    top = DIFFUSERS_TO_LDM_MAPPING["openclip"]["layers"]
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        if name.endswith("position_ids"):
            continue
        if name in top:
            out[top[name]] = tensor.T.contiguous() if name == "text_projection.weight" else tensor
            continue
        match = re.match(r"text_model\.encoder\.layers\.(\d+)\.(.*)", name)
        if not match:
            raise ValueError(f"no OpenCLIP name for text-encoder tensor {name!r}")
        layer, rest = match.groups()
        base = f"transformer.resblocks.{layer}."
        projection = re.match(r"self_attn\.(q|k|v)_proj\.(weight|bias)", rest)
        if projection:
            fused.setdefault(f"{base}attn.in_proj_{projection.group(2)}", {})[projection.group(1)] = tensor
            continue
        rest = (rest.replace("self_attn.", "attn.").replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                .replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj"))
        out[base + rest] = tensor
    for name, parts in fused.items():
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out
