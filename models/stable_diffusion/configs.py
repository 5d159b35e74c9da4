"""Configs for SD 1.x and SDXL U-Nets, read from tensor shapes (no hub access).

What shapes cannot tell (attention heads, the SDXL time-embedding width, the VAE latent scaling,
the text encoders' activation, the noise schedule) comes from the variant's JSON in
``models/configs/`` (``sd15``, ``sdxl_base``, ``sdxl_refiner``); a file may override any of it in
its safetensors metadata under ``plexus.config`` (the tiny demo models do).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Mapping

from models.sd3.configs import CONFIG_DIR

Shape = tuple[int, ...]


@lru_cache(maxsize=None)
def variant_settings(variant: str) -> dict:
    return json.loads((CONFIG_DIR / f"{variant}.json").read_text())


def _indices(shapes: Mapping[str, Shape], pattern: str) -> set[int]:
    return {int(m.group(1)) for k in shapes if (m := re.match(pattern, k))}


def infer_unet_config(shapes: Mapping[str, Shape], variant: str, hints: Mapping | None = None) -> dict:
    """UNet2DConditionModel config from LDM-layout U-Net shapes (no prefix)."""
    hints = dict(hints or {})
    settings = variant_settings(variant)["unet"]
    if "input_blocks.0.0.weight" not in shapes:
        raise ValueError("no U-Net tensors (input_blocks.0.0.weight) found")
    model_channels, in_channels = shapes["input_blocks.0.0.weight"][:2]
    inputs = len(_indices(shapes, r"input_blocks\.(\d+)\."))
    levels = len(_indices(shapes, r"input_blocks\.(\d+)\.0\.op\.")) + 1
    per_level = inputs // levels
    layers = per_level - 1
    channels, attention, depth = [], [], []
    for level in range(levels):
        first = per_level * level + 1
        channels.append(shapes[f"input_blocks.{first}.0.out_layers.3.weight"][0])
        attention.append(f"input_blocks.{first}.1.proj_in.weight" in shapes)
        depth.append(len(_indices(shapes, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\.")))
    mid_depth = len(_indices(shapes, r"middle_block\.1\.transformer_blocks\.(\d+)\."))
    depth = [d or mid_depth or 1 for d in depth]  # a level without attention: the value is unused
    if mid_depth and depth[-1] != mid_depth and not attention[-1]:
        depth[-1] = mid_depth  # diffusers' mid block takes the last level's depth
    proj_in = next(shape for name, shape in shapes.items() if name.endswith(".proj_in.weight"))
    heads = [int(hints.get("heads", settings.get("heads") or 0)) or c // int(settings.get("head_width", 64))
             for c in channels]
    config = {
        "sample_size": int(hints.get("sample_size", settings["sample_size"])),
        "in_channels": in_channels,
        "out_channels": shapes["out.2.weight"][0],
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)],
        "mid_block_type": "UNetMidBlock2DCrossAttn" if mid_depth else None,
        "block_out_channels": channels,
        "layers_per_block": layers,
        "transformer_layers_per_block": depth,
        "cross_attention_dim": next(s[1] for n, s in shapes.items() if n.endswith("attn2.to_k.weight")),
        "attention_head_dim": hints.get("attention_head_dim", heads),
        "use_linear_projection": len(proj_in) == 2,
        "norm_num_groups": int(hints.get("norm_num_groups", 32)),
    }
    if "label_emb.0.0.weight" in shapes:
        config.update(addition_embed_type="text_time",
                      addition_time_embed_dim=int(hints.get("addition_time_embed_dim",
                                                            settings["addition_time_embed_dim"])),
                      projection_class_embeddings_input_dim=shapes["label_emb.0.0.weight"][1])
    return config


def vae_hints(variant: str, hints: Mapping | None = None) -> dict:
    return dict(variant_settings(variant)["vae"], **dict(hints or {}))


def clip_hints(variant: str, role: str, hints: Mapping | None = None) -> dict:
    return dict(variant_settings(variant).get(role, {}), **dict(hints or {}))
