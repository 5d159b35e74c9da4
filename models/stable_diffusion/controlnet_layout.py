"""SD 1.x / SDXL ControlNet files: which layout and family a file holds (from tensor names and shapes),
its ControlNetModel config, and its tensors in diffusers' names.

Two layouts exist in the wild:

- original (LDM) names, as ``control_v11p_sd15_canny`` / ``control_sd15_*`` and the SDXL nets trained
  with the original code: ``input_hint_block.N``, ``input_blocks.N``, ``zero_convs.N``,
  ``middle_block_out``, optionally under ``control_model.``; converted with diffusers' own
  ``convert_controlnet_checkpoint`` (plus SDXL's ``label_emb``, which that converter leaves out);
- diffusers names (``controlnet_cond_embedding.*``, as ``diffusers_xl_*`` and ``controlnet-*-sdxl``
  files), with or without the config in the safetensors metadata.

The config starts from the shipped one of the family (``models/configs/controlnet_sd15.json`` /
``controlnet_sdxl.json``, the configs of the reference checkpoints) and takes every value the
tensors show from them; what they cannot show (attention heads, norm groups) may be stated in the
file's metadata under ``plexus.config`` (the tiny test nets do).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Mapping

import torch

from models.sd3.configs import CONFIG_DIR

Shape = tuple[int, ...]
LDM_PREFIX = "control_model."


class ControlNetLayoutError(ValueError):
    """A file that is not an SD 1.x / SDXL ControlNet Plexus can read (the message says why)."""


@lru_cache(maxsize=None)
def family_defaults(family: str) -> dict:
    return json.loads((CONFIG_DIR / f"controlnet_{family}.json").read_text())


# ControlNet-like files that need another model class: named in the refusal
_UNSUPPORTED_MARKERS = (
    ("lora_controlnet", "a Control-LoRA (Stability's control-lora / sai_xl_*_lora: low-rank ControlNet weights)"),
    ("task_embedding", "a ControlNet Union (ControlNetUnionModel: one net, several control types)"),
    ("controlnet_mode_embedder.", "a ControlNet Union (ControlNetUnionModel: one net, several control types)"),
)


def refuse_unsupported(names) -> None:
    """Raise ControlNetLayoutError naming the kind of a ControlNet-like file Plexus does not run."""
    for marker, kind in _UNSUPPORTED_MARKERS:
        if any(n.startswith(marker) for n in names):
            raise ControlNetLayoutError(f"{kind}; Plexus runs plain SD 1.x / SDXL ControlNets")


def is_original_layout(names) -> bool:
    return any(n.startswith(("input_hint_block.", LDM_PREFIX + "input_hint_block.")) for n in names)


def is_diffusers_layout(names) -> bool:
    return any(n.startswith("controlnet_cond_embedding.") for n in names)


def family_of(shapes: Mapping[str, Shape]) -> str:
    """sd15 or sdxl from diffusers-named shapes; SD 2.x (1024-wide cross-attention) is refused."""
    width = next((s[1] for n, s in shapes.items() if n.endswith("attn2.to_k.weight")), None)
    if "add_embedding.linear_1.weight" in shapes:
        return "sdxl"
    if width == 1024:
        raise ControlNetLayoutError("a Stable Diffusion 2.x ControlNet (1024-wide cross-attention); Plexus runs "
                                    "SD 1.x and SDXL ControlNets only")
    return "sd15"


def _indices(shapes: Mapping[str, Shape], pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for k in shapes if (m := re.match(pattern, k))})


# -- original (LDM) -> diffusers names ---------------------------------------------------------------
_LABEL_EMBEDDING = {"label_emb.0.0.": "add_embedding.linear_1.", "label_emb.0.2.": "add_embedding.linear_2."}


def original_to_diffusers(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LDM-named ControlNet tensors (with or without ``control_model.``) in diffusers' names."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    prefixed = any(k.startswith(LDM_PREFIX) for k in tensors)  # a whole training checkpoint: only the net
    state = {k.removeprefix(LDM_PREFIX): v for k, v in tensors.items() if k.startswith(LDM_PREFIX) or not prefixed}
    input_blocks = _indices(state, r"input_blocks\.(\d+)\.")
    levels = len(_indices(state, r"input_blocks\.(\d+)\.0\.op\.")) + 1
    if not input_blocks or len(input_blocks) % levels:  # conv_in + per level: resnets (+ a downsampler)
        raise ControlNetLayoutError(f"unexpected input_blocks ({len(input_blocks)} blocks over {levels} levels)")
    layers_per_block = len(input_blocks) // levels - 1
    # under control_model., the converter's own prefix: it reads unprefixed files only when time_embed is there
    converted = convert_controlnet_checkpoint({LDM_PREFIX + k: v for k, v in state.items()},
                                              {"layers_per_block": layers_per_block})
    for ldm, diffusers_name in _LABEL_EMBEDDING.items():  # SDXL's added embedding: not in diffusers' converter
        for part in ("weight", "bias"):
            if ldm + part in state:
                converted[diffusers_name + part] = state[ldm + part]
    return {k: v for k, v in converted.items() if v is not None}


# -- config from diffusers-named shapes ----------------------------------------------------------------
def _heads(family: str, channels: list[int], hints: Mapping) -> list[int]:
    attention = family_defaults(family)["attention"]
    if "heads" in hints:
        return [int(hints["heads"])] * len(channels)
    if "attention_head_dim" in hints:
        value = hints["attention_head_dim"]
        return list(value) if isinstance(value, (list, tuple)) else [int(value)] * len(channels)
    if "heads" in attention:
        return [int(attention["heads"])] * len(channels)
    return [c // int(attention["head_width"]) for c in channels]


def infer_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> tuple[str, dict]:
    """(family, ControlNetModel config) from diffusers-named tensor shapes."""
    hints = dict(hints or {})
    family = family_of(shapes)
    config = dict(family_defaults(family)["config"])
    if "conv_in.weight" not in shapes or "controlnet_cond_embedding.conv_in.weight" not in shapes:
        raise ControlNetLayoutError("no ControlNet tensors (conv_in, controlnet_cond_embedding.conv_in) found")
    levels = _indices(shapes, r"down_blocks\.(\d+)\.")
    channels = [shapes[f"down_blocks.{i}.resnets.0.conv1.weight"][0] for i in levels]
    attention = [f"down_blocks.{i}.attentions.0.proj_in.weight" in shapes for i in levels]
    # an attention level may hold no transformer block (SDXL "small" nets: [0, 0, 1]); without attention the
    # value is unused, except at the last level, whose depth diffusers' mid block takes
    depth = [len(_indices(shapes, rf"down_blocks\.{i}\.attentions\.0\.transformer_blocks\.(\d+)\."))
             if has_attention else 1 for i, has_attention in zip(levels, attention)]
    mid_depth = len(_indices(shapes, r"mid_block\.attentions\.0\.transformer_blocks\.(\d+)\."))
    mid_attention = "mid_block.attentions.0.proj_in.weight" in shapes
    if not attention[-1]:
        depth[-1] = mid_depth or 1
    embedding = [shapes["controlnet_cond_embedding.conv_in.weight"][0]] + \
        [shapes[f"controlnet_cond_embedding.blocks.{i}.weight"][0]
         for i in _indices(shapes, r"controlnet_cond_embedding\.blocks\.(\d+)\.weight") if i % 2 == 1]
    proj_in = next((s for n, s in shapes.items() if n.endswith(".proj_in.weight")), None)
    config.update(
        in_channels=shapes["conv_in.weight"][1],
        conditioning_channels=shapes["controlnet_cond_embedding.conv_in.weight"][1],
        conditioning_embedding_out_channels=embedding,
        down_block_types=["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        mid_block_type="UNetMidBlock2DCrossAttn" if mid_attention else "UNetMidBlock2D",
        block_out_channels=channels,
        layers_per_block=len(_indices(shapes, r"down_blocks\.0\.resnets\.(\d+)\.")),
        transformer_layers_per_block=depth,
        attention_head_dim=_heads(family, channels, hints),
        norm_num_groups=int(hints.get("norm_num_groups", config["norm_num_groups"])),
    )
    width = next((s[1] for n, s in shapes.items() if n.endswith("attn2.to_k.weight")), None)
    if width is not None:
        config["cross_attention_dim"] = width
    if proj_in is not None:
        config["use_linear_projection"] = len(proj_in) == 2
    if family == "sdxl":
        config.update(addition_embed_type="text_time",
                      addition_time_embed_dim=int(hints.get("addition_time_embed_dim",
                                                            config["addition_time_embed_dim"])),
                      projection_class_embeddings_input_dim=shapes["add_embedding.linear_1.weight"][1])
    return family, config


# -- diffusers -> original names (for the demo and tests; proved by the converter above) ------------------
def diffusers_to_original(state: Mapping[str, torch.Tensor], layers_per_block: int) -> dict[str, torch.Tensor]:
    """A ControlNetModel state dict in LDM names (no ``control_model.`` prefix)."""
    from models.stable_diffusion.layout import unet_from_diffusers

    blocks = _indices(state, r"controlnet_cond_embedding\.blocks\.(\d+)\.")
    hint_out = 2 * (len(blocks) + 1)
    out: dict[str, torch.Tensor] = {}
    trunk: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if match := re.match(r"controlnet_cond_embedding\.(conv_in|conv_out|blocks\.(\d+))\.(weight|bias)", name):
            part, block, kind = match.groups()
            index = 0 if part == "conv_in" else hint_out if part == "conv_out" else 2 * (int(block) + 1)
            out[f"input_hint_block.{index}.{kind}"] = tensor
        elif match := re.match(r"controlnet_down_blocks\.(\d+)\.(weight|bias)", name):
            out[f"zero_convs.{match.group(1)}.0.{match.group(2)}"] = tensor
        elif name.startswith("controlnet_mid_block."):
            out["middle_block_out.0." + name.removeprefix("controlnet_mid_block.")] = tensor
        else:
            trunk[name] = tensor
    out.update(unet_from_diffusers(trunk, {"layers_per_block": layers_per_block, "up_block_types": []}))
    return out
