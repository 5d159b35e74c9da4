"""The original SAI single-file key layout of SD3 checkpoints, and conversion to and from diffusers'.

An original checkpoint holds, under prefixes:

- ``model.diffusion_model.``: the MMDiT (``joint_blocks.N.{x_block,context_block}...``);
- ``first_stage_model.``: the VAE in the LDM layout (``encoder.down.N.block.M...``);
- ``text_encoders.{clip_l,clip_g,t5xxl}.transformer.``: the text encoders in transformers' layout
  (optional: files "without bundled text encoders" lack them).

Loading uses diffusers' own converters (so the weights end up exactly where diffusers puts them).
Writing (the demo checkpoint, tests) uses the inverse defined here; a test checks the round trip.
"""
from __future__ import annotations

import re

import torch

TRANSFORMER_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIXES = {
    "clip_l": "text_encoders.clip_l.transformer.",
    "clip_g": "text_encoders.clip_g.transformer.",
    "t5xxl": "text_encoders.t5xxl.transformer.",
}


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def add_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def components_in(names) -> set[str]:
    """Which components a checkpoint's tensor names hold: transformer, vae, clip_l, clip_g, t5xxl."""
    found: set[str] = set()
    for name in names:
        if name.startswith(TRANSFORMER_PREFIX) or name.startswith("joint_blocks."):
            found.add("transformer")
        elif name.startswith(VAE_PREFIX):
            found.add("vae")
        else:
            for component, prefix in TEXT_ENCODER_PREFIXES.items():
                if name.startswith(prefix):
                    found.add(component)
    return found


# -- transformer ------------------------------------------------------------------------------------
def transformer_to_diffusers(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMDiT tensors (with or without ``model.diffusion_model.``) in diffusers' names."""
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    bare = {k.removeprefix(TRANSFORMER_PREFIX): v for k, v in original.items()}
    converted = convert_sd3_transformer_checkpoint_to_diffusers(bare)  # pops what it recognises
    if bare:
        raise ValueError(f"{len(bare)} MMDiT tensor(s) not recognised, e.g. {sorted(bare)[:5]}; they would "
                         f"be dropped, so the file is refused")
    return converted


def _swap_halves(weight: torch.Tensor) -> torch.Tensor:
    first, second = weight.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


_BLOCK_RENAMES = (  # (original suffix, diffusers suffix) inside joint_blocks.N / transformer_blocks.N
    ("x_block.attn.ln_q.weight", "attn.norm_q.weight"),
    ("x_block.attn.ln_k.weight", "attn.norm_k.weight"),
    ("context_block.attn.ln_q.weight", "attn.norm_added_q.weight"),
    ("context_block.attn.ln_k.weight", "attn.norm_added_k.weight"),
    ("x_block.attn.proj.weight", "attn.to_out.0.weight"),
    ("x_block.attn.proj.bias", "attn.to_out.0.bias"),
    ("context_block.attn.proj.weight", "attn.to_add_out.weight"),
    ("context_block.attn.proj.bias", "attn.to_add_out.bias"),
    ("x_block.attn2.ln_q.weight", "attn2.norm_q.weight"),
    ("x_block.attn2.ln_k.weight", "attn2.norm_k.weight"),
    ("x_block.attn2.proj.weight", "attn2.to_out.0.weight"),
    ("x_block.attn2.proj.bias", "attn2.to_out.0.bias"),
    ("x_block.adaLN_modulation.1.weight", "norm1.linear.weight"),
    ("x_block.adaLN_modulation.1.bias", "norm1.linear.bias"),
    ("x_block.mlp.fc1.weight", "ff.net.0.proj.weight"),
    ("x_block.mlp.fc1.bias", "ff.net.0.proj.bias"),
    ("x_block.mlp.fc2.weight", "ff.net.2.weight"),
    ("x_block.mlp.fc2.bias", "ff.net.2.bias"),
    ("context_block.mlp.fc1.weight", "ff_context.net.0.proj.weight"),
    ("context_block.mlp.fc1.bias", "ff_context.net.0.proj.bias"),
    ("context_block.mlp.fc2.weight", "ff_context.net.2.weight"),
    ("context_block.mlp.fc2.bias", "ff_context.net.2.bias"),
)
_QKV = (  # original fused qkv -> diffusers separate projections
    ("x_block.attn.qkv", ("attn.to_q", "attn.to_k", "attn.to_v")),
    ("context_block.attn.qkv", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")),
    ("x_block.attn2.qkv", ("attn2.to_q", "attn2.to_k", "attn2.to_v")),
)
_TOP_RENAMES = (
    ("pos_embed", "pos_embed.pos_embed"),
    ("x_embedder.proj.weight", "pos_embed.proj.weight"), ("x_embedder.proj.bias", "pos_embed.proj.bias"),
    ("t_embedder.mlp.0.weight", "time_text_embed.timestep_embedder.linear_1.weight"),
    ("t_embedder.mlp.0.bias", "time_text_embed.timestep_embedder.linear_1.bias"),
    ("t_embedder.mlp.2.weight", "time_text_embed.timestep_embedder.linear_2.weight"),
    ("t_embedder.mlp.2.bias", "time_text_embed.timestep_embedder.linear_2.bias"),
    ("y_embedder.mlp.0.weight", "time_text_embed.text_embedder.linear_1.weight"),
    ("y_embedder.mlp.0.bias", "time_text_embed.text_embedder.linear_1.bias"),
    ("y_embedder.mlp.2.weight", "time_text_embed.text_embedder.linear_2.weight"),
    ("y_embedder.mlp.2.bias", "time_text_embed.text_embedder.linear_2.bias"),
    ("context_embedder.weight", "context_embedder.weight"), ("context_embedder.bias", "context_embedder.bias"),
    ("final_layer.linear.weight", "proj_out.weight"), ("final_layer.linear.bias", "proj_out.bias"),
)


def transformer_from_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers' SD3Transformer2DModel state dict in the original key names (no prefix)."""
    out: dict[str, torch.Tensor] = {}
    for original, ours in _TOP_RENAMES:
        if ours in state:
            out[original] = state[ours]
    out["final_layer.adaLN_modulation.1.weight"] = _swap_halves(state["norm_out.linear.weight"])
    out["final_layer.adaLN_modulation.1.bias"] = _swap_halves(state["norm_out.linear.bias"])
    layers = sorted({int(k.split(".")[1]) for k in state if k.startswith("transformer_blocks.")})
    last = layers[-1] if layers else -1
    for i in layers:
        ours, original = f"transformer_blocks.{i}.", f"joint_blocks.{i}."
        for original_suffix, ours_suffix in _BLOCK_RENAMES:
            if ours + ours_suffix in state:
                out[original + original_suffix] = state[ours + ours_suffix]
        for fused, parts in _QKV:
            for kind in ("weight", "bias"):
                names = [f"{ours}{p}.{kind}" for p in parts]
                if all(n in state for n in names):
                    out[f"{original}{fused}.{kind}"] = torch.cat([state[n] for n in names], dim=0)
        for kind in ("weight", "bias"):
            tensor = state[f"{ours}norm1_context.linear.{kind}"]
            # The last block's context modulation is stored (shift, scale) in the original layout.
            out[f"{original}context_block.adaLN_modulation.1.{kind}"] = _swap_halves(tensor) if i == last else tensor
    return out


# -- VAE --------------------------------------------------------------------------------------------
def vae_to_diffusers(original: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """LDM-layout VAE tensors (with or without ``first_stage_model.``) in diffusers' names."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    prefixed = {VAE_PREFIX + k.removeprefix(VAE_PREFIX): v for k, v in original.items()}
    return convert_ldm_vae_checkpoint(prefixed, config)


_BLOCK_KEY = re.compile(
    r"(encoder|decoder)\.(down_blocks|up_blocks)\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.*)")
_VAE_RESNET_PARTS = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION_PARTS = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_from_diffusers(state: dict[str, torch.Tensor], num_blocks: int) -> dict[str, torch.Tensor]:
    """diffusers' AutoencoderKL state dict in the LDM key names (no prefix)."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        renamed = name
        match = _BLOCK_KEY.match(name)
        if match:
            side, blocks, index, kind, inner, rest = match.groups()
            block = int(index) if blocks == "down_blocks" else num_blocks - 1 - int(index)
            stage = "down" if blocks == "down_blocks" else "up"
            if kind == "resnets":
                part, _, tail = rest.partition(".")
                renamed = f"{side}.{stage}.{block}.block.{inner}.{_VAE_RESNET_PARTS.get(part, part)}.{tail}"
            else:
                sampler = "downsample" if kind == "downsamplers" else "upsample"
                renamed = f"{side}.{stage}.{block}.{sampler}.{rest}"
        elif (match := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", name)):
            side, index, rest = match.groups()
            part, _, tail = rest.partition(".")
            renamed = f"{side}.mid.block_{int(index) + 1}.{_VAE_RESNET_PARTS.get(part, part)}.{tail}"
        elif (match := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)\.(weight|bias)$", name)):
            side, part, kind = match.groups()
            renamed = f"{side}.mid.attn_1.{_VAE_ATTENTION_PARTS[part]}.{kind}"
            if kind == "weight" and part != "group_norm":
                tensor = tensor.reshape(*tensor.shape, 1, 1)  # LDM stores these as 1x1 convolutions
        elif (match := re.match(r"(encoder|decoder)\.conv_norm_out\.(.*)", name)):
            renamed = f"{match.group(1)}.norm_out.{match.group(2)}"
        out[renamed] = tensor
    return out
