"""LoRA key map for FLUX.1: the transformer (diffusers' ``FluxTransformer2DModel``) and the CLIP-L
and T5-XXL text encoders.

Accepted module-name spellings (the adapter suffix follows):

- transformer, original BFL names (``double_blocks.N.img_attn.qkv``, ``single_blocks.N.linear1``...):
  kohya ``lora_unet_<name with _>``, generic/ComfyUI ``diffusion_model.<name>``. A fused ``qkv``
  adapter splits by output rows over ``to_q/to_k/to_v``; ``linear1`` over q, k, v and ``proj_mlp``;
  ``final_layer.adaLN_modulation.1`` has its (shift, scale) halves swapped.
- transformer, diffusers names (``transformer_blocks.N.attn.to_q``...): ``transformer.``, PEFT
  ``base_model.model.``, ``lora_transformer_``, or bare.
- text encoders: generic ``text_encoders.{clip_l,t5xxl}.transformer.``, kohya ``lora_te1_`` (CLIP-L)
  and ``lora_te2_`` (T5), diffusers ``text_encoder.`` / ``text_encoder_2.``; CLIP names with or
  without ``text_model.`` (transformers 5's CLIPTextModel has none).
"""
from __future__ import annotations

from typing import Any

from models.flux.layout import DOUBLE_BLOCK_LAYERS, SINGLE_BLOCK_LAYERS, TOP_LAYERS
from models.lora.key_maps import (MODEL_COMPONENT, KeyMap, Target, add_transformer_targets, linear_like_modules,
                                   underscored)

DIFFUSERS_PREFIXES = ("transformer.", "base_model.model.", "")
DIFFUSERS_UNDERSCORED_PREFIXES = ("lora_transformer_",)
ORIGINAL_PREFIXES = ("diffusion_model.", "model.diffusion_model.")
ENCODERS = {"clip_l": ("1", "text_encoder."), "t5xxl": ("2", "text_encoder_2.")}


def original_targets(transformer: Any) -> dict[str, list[Target]]:
    """Original FLUX module name -> the diffusers module(s) it became."""
    present = set(linear_like_modules(transformer))
    config = transformer.config
    width = int(config.num_attention_heads) * int(config.attention_head_dim)
    table: dict[str, list[Target]] = {}

    def add(original: str, targets: list[Target]) -> None:
        if targets and all(t.module in present for t in targets):
            table[original] = targets

    for original, ours in TOP_LAYERS:
        add(original, [Target(MODEL_COMPONENT, ours)])
    add("final_layer.adaLN_modulation.1", [Target(MODEL_COMPONENT, "norm_out.linear", swap_halves=True)])
    for i in range(int(config.num_layers)):
        block, ours = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for original, diffusers_name in DOUBLE_BLOCK_LAYERS:
            add(block + original, [Target(MODEL_COMPONENT, ours + diffusers_name)])
        for fused, parts in (("img_attn.qkv", ("attn.to_q", "attn.to_k", "attn.to_v")),
                             ("txt_attn.qkv", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"))):
            add(block + fused, [Target(MODEL_COMPONENT, ours + part, rows=(k * width, (k + 1) * width))
                                for k, part in enumerate(parts)])
    for i in range(int(config.num_single_layers)):
        block, ours = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for original, diffusers_name in SINGLE_BLOCK_LAYERS:
            add(block + original, [Target(MODEL_COMPONENT, ours + diffusers_name)])
        mlp = transformer.get_submodule(ours + "proj_mlp").out_features if ours + "proj_mlp" in present else 0
        rows = [(0, width), (width, 2 * width), (2 * width, 3 * width), (3 * width, 3 * width + mlp)]
        add(block + "linear1", [Target(MODEL_COMPONENT, ours + part, rows=span)
                                for part, span in zip(("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"), rows)])
    return table


def build_key_map(model: Any, clip: Any) -> KeyMap:
    targets: dict[str, list[Target]] = {}
    if model is not None:
        add_transformer_targets(targets, model.transformer, original_targets(model.transformer), DIFFUSERS_PREFIXES,
                                DIFFUSERS_UNDERSCORED_PREFIXES, ORIGINAL_PREFIXES)
    for role, (index, diffusers_prefix) in ENCODERS.items():
        encoder = getattr(clip, role, None) if clip is not None else None
        if encoder is None:
            continue
        for name in linear_like_modules(encoder.model):
            found = [Target(role, name)]
            spellings = {name}
            if role == "clip_l":  # with and without the text_model. level
                spellings |= {name.removeprefix("text_model."), "text_model." + name.removeprefix("text_model.")}
            for spelling in spellings:
                targets[f"text_encoders.{role}.transformer.{spelling}"] = found
                targets[f"lora_te{index}_{underscored(spelling)}"] = found
                targets[diffusers_prefix + spelling] = found
    prefixes = {role: (f"lora_te{index}_", diffusers_prefix, f"text_encoders.{role}.")
                for role, (index, diffusers_prefix) in ENCODERS.items()}
    prefixes[MODEL_COMPONENT] = ("lora_unet_", "lora_transformer_", "transformer.", "base_model.model.",
                                 *ORIGINAL_PREFIXES)
    return KeyMap(targets, prefixes)

