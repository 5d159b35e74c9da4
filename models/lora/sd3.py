"""LoRA key map for SD3 / SD3.5: the MMDiT (diffusers' ``SD3Transformer2DModel``) and the bundled
CLIP-L, CLIP-G and T5 text encoders.

Accepted module-name spellings (the adapter suffix follows):

- MMDiT, original names (``joint_blocks.N.x_block.attn.qkv``...): kohya ``lora_unet_<name with _>``,
  generic/ComfyUI ``diffusion_model.<name>``. A fused ``qkv`` adapter splits by output rows over
  diffusers' ``to_q/to_k/to_v``; the adaLN layers stored (shift, scale) have their halves swapped.
- MMDiT, diffusers names (``transformer_blocks.N.attn.to_q``...): ``transformer.``, PEFT
  ``base_model.model.``, OneTrainer ``lora_transformer_``, SimpleTuner LyCORIS ``lycoris_``, or bare.
- Text encoders (transformers names such as ``text_model.encoder.layers.N.self_attn.q_proj``):
  generic ``text_encoders.{clip_l,clip_g,t5xxl}.transformer.``, kohya/OneTrainer
  ``lora_te{1,2,3}_``, diffusers ``text_encoder{,_2,_3}.``.
"""
from __future__ import annotations

from typing import Any

from models.lora.key_maps import (MODEL_COMPONENT, KeyMap, Target, add_transformer_targets, linear_like_modules,
                                   underscored)

DIFFUSERS_PREFIXES = ("transformer.", "base_model.model.", "")
DIFFUSERS_UNDERSCORED_PREFIXES = ("lora_transformer_", "lycoris_")
ORIGINAL_PREFIXES = ("diffusion_model.", "model.diffusion_model.")
ENCODERS = {  # role -> (kohya index, diffusers prefix)
    "clip_l": ("1", "text_encoder."), "clip_g": ("2", "text_encoder_2."), "t5xxl": ("3", "text_encoder_3."),
}
_BLOCK_LAYERS = (  # (original suffix in joint_blocks.N, diffusers suffix in transformer_blocks.N)
    ("x_block.attn.proj", "attn.to_out.0"), ("context_block.attn.proj", "attn.to_add_out"),
    ("x_block.attn2.proj", "attn2.to_out.0"),
    ("x_block.mlp.fc1", "ff.net.0.proj"), ("x_block.mlp.fc2", "ff.net.2"),
    ("context_block.mlp.fc1", "ff_context.net.0.proj"), ("context_block.mlp.fc2", "ff_context.net.2"),
    ("x_block.adaLN_modulation.1", "norm1.linear"),
)
_FUSED_QKV = (
    ("x_block.attn.qkv", ("attn.to_q", "attn.to_k", "attn.to_v")),
    ("context_block.attn.qkv", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")),
    ("x_block.attn2.qkv", ("attn2.to_q", "attn2.to_k", "attn2.to_v")),
)
_TOP_LAYERS = (
    ("x_embedder.proj", "pos_embed.proj"), ("context_embedder", "context_embedder"),
    ("t_embedder.mlp.0", "time_text_embed.timestep_embedder.linear_1"),
    ("t_embedder.mlp.2", "time_text_embed.timestep_embedder.linear_2"),
    ("y_embedder.mlp.0", "time_text_embed.text_embedder.linear_1"),
    ("y_embedder.mlp.2", "time_text_embed.text_embedder.linear_2"),
    ("final_layer.linear", "proj_out"),
)


def original_mmdit_targets(transformer: Any) -> dict[str, list[Target]]:
    """Original MMDiT module name -> the diffusers module(s) it became."""
    present = set(linear_like_modules(transformer))
    layers = int(transformer.config.num_layers)
    width = int(transformer.config.num_attention_heads) * int(transformer.config.attention_head_dim)
    table: dict[str, list[Target]] = {}

    def add(original: str, targets: list[Target]) -> None:
        if targets and all(t.module in present for t in targets):
            table[original] = targets

    for original, ours in _TOP_LAYERS:
        add(original, [Target(MODEL_COMPONENT, ours)])
    add("final_layer.adaLN_modulation.1", [Target(MODEL_COMPONENT, "norm_out.linear", swap_halves=True)])
    for i in range(layers):
        block, ours = f"joint_blocks.{i}.", f"transformer_blocks.{i}."
        for original, diffusers_name in _BLOCK_LAYERS:
            add(block + original, [Target(MODEL_COMPONENT, ours + diffusers_name)])
        # The last block's context modulation is stored (shift, scale) in the original layout.
        add(block + "context_block.adaLN_modulation.1",
            [Target(MODEL_COMPONENT, ours + "norm1_context.linear", swap_halves=i == layers - 1)])
        for fused, parts in _FUSED_QKV:
            add(block + fused, [Target(MODEL_COMPONENT, ours + part, rows=(k * width, (k + 1) * width))
                                for k, part in enumerate(parts)])
    return table


def build_key_map(model: Any, clip: Any) -> KeyMap:
    targets: dict[str, list[Target]] = {}
    if model is not None:
        add_transformer_targets(targets, model.transformer, original_mmdit_targets(model.transformer), DIFFUSERS_PREFIXES,
                                DIFFUSERS_UNDERSCORED_PREFIXES, ORIGINAL_PREFIXES)
    for role, (index, diffusers_prefix) in ENCODERS.items():
        encoder = getattr(clip, role, None) if clip is not None else None
        if encoder is None:
            continue
        for name in linear_like_modules(encoder.model):
            found = [Target(role, name)]
            targets[f"text_encoders.{role}.transformer.{name}"] = found
            targets[f"lora_te{index}_{underscored(name)}"] = found
            targets[diffusers_prefix + name] = found
    prefixes = {role: (f"lora_te{index}_", diffusers_prefix, f"text_encoders.{role}.")
                for role, (index, diffusers_prefix) in ENCODERS.items()}
    prefixes[MODEL_COMPONENT] = ("lora_unet_", "lora_transformer_", "lycoris_", "transformer.", "base_model.model.",
                                 *ORIGINAL_PREFIXES)
    return KeyMap(targets, prefixes)

