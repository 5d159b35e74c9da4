"""The original (Black Forest Labs / ComfyUI) key layout of FLUX.1 transformers, and conversion to
and from diffusers' ``FluxTransformer2DModel`` names.

An original file holds ``double_blocks.N.{img,txt}_{attn,mlp,mod}...`` (fused qkv),
``single_blocks.N.{linear1,linear2,norm,modulation}...`` (``linear1`` = q, k, v and the MLP input
fused), ``img_in``, ``txt_in``, ``time_in``, ``vector_in``, ``guidance_in`` (dev only) and
``final_layer``. All-in-one ComfyUI checkpoints put it under ``model.diffusion_model.``.

diffusers' own converter assumes the full-size width (3072), so this module does both directions
for any width; the demo writer and the tests use the inverse.
"""
from __future__ import annotations

import torch

TRANSFORMER_PREFIX = "model.diffusion_model."
# (original, diffusers) names outside the blocks.
TOP_LAYERS = (
    ("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"),
    ("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"),
    ("vector_in.in_layer", "time_text_embed.text_embedder.linear_1"),
    ("vector_in.out_layer", "time_text_embed.text_embedder.linear_2"),
    ("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"),
    ("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"),
    ("txt_in", "context_embedder"),
    ("img_in", "x_embedder"),
    ("final_layer.linear", "proj_out"),
)
DOUBLE_BLOCK_LAYERS = (  # inside double_blocks.N / transformer_blocks.N
    ("img_mod.lin", "norm1.linear"), ("txt_mod.lin", "norm1_context.linear"),
    ("img_attn.proj", "attn.to_out.0"), ("txt_attn.proj", "attn.to_add_out"),
    ("img_mlp.0", "ff.net.0.proj"), ("img_mlp.2", "ff.net.2"),
    ("txt_mlp.0", "ff_context.net.0.proj"), ("txt_mlp.2", "ff_context.net.2"),
)
_DOUBLE_NORMS = (
    ("img_attn.norm.query_norm.scale", "attn.norm_q.weight"), ("img_attn.norm.key_norm.scale", "attn.norm_k.weight"),
    ("txt_attn.norm.query_norm.scale", "attn.norm_added_q.weight"),
    ("txt_attn.norm.key_norm.scale", "attn.norm_added_k.weight"),
)
_DOUBLE_QKV = (("img_attn.qkv", ("attn.to_q", "attn.to_k", "attn.to_v")),
               ("txt_attn.qkv", ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")))
SINGLE_BLOCK_LAYERS = (("modulation.lin", "norm.linear"), ("linear2", "proj_out"))
_SINGLE_NORMS = (("norm.query_norm.scale", "attn.norm_q.weight"), ("norm.key_norm.scale", "attn.norm_k.weight"))
_SINGLE_FUSED = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")


def is_flux_transformer(names) -> bool:
    """True when tensor names (with or without ``model.diffusion_model.``) are a FLUX transformer's."""
    return any(n.removeprefix(TRANSFORMER_PREFIX).startswith("double_blocks.") for n in names) or \
        any(n.startswith("single_transformer_blocks.") for n in names)


def _block_indices(state: dict, prefix: str) -> list[int]:
    return sorted({int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)})


def _swap_halves(weight: torch.Tensor) -> torch.Tensor:
    first, second = weight.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def transformer_to_diffusers(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original-layout tensors (prefix optional) in diffusers' names. Unknown names are kept as they
    are, so that the loader reports them instead of dropping them."""
    state = {k.removeprefix(TRANSFORMER_PREFIX): v for k, v in original.items()}
    out: dict[str, torch.Tensor] = {}

    def move(source: str, target: str, transform=None) -> None:
        if source in state:
            tensor = state.pop(source)
            out[target] = transform(tensor) if transform else tensor

    for source, target in TOP_LAYERS:
        for kind in ("weight", "bias"):
            move(f"{source}.{kind}", f"{target}.{kind}")
    for kind in ("weight", "bias"):
        move(f"final_layer.adaLN_modulation.1.{kind}", f"norm_out.linear.{kind}", _swap_halves)
    for i in _block_indices(state, "double_blocks."):
        source, target = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for a, b in DOUBLE_BLOCK_LAYERS:
            for kind in ("weight", "bias"):
                move(f"{source}{a}.{kind}", f"{target}{b}.{kind}")
        for a, b in _DOUBLE_NORMS:
            move(source + a, target + b)
        for fused, parts in _DOUBLE_QKV:
            for kind in ("weight", "bias"):
                if f"{source}{fused}.{kind}" in state:
                    for part, tensor in zip(parts, state.pop(f"{source}{fused}.{kind}").chunk(3, dim=0)):
                        out[f"{target}{part}.{kind}"] = tensor
    for i in _block_indices(state, "single_blocks."):
        source, target = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for a, b in SINGLE_BLOCK_LAYERS:
            for kind in ("weight", "bias"):
                move(f"{source}{a}.{kind}", f"{target}{b}.{kind}")
        for a, b in _SINGLE_NORMS:
            move(source + a, target + b)
        width = state[f"{source}linear2.weight"].shape[0] if f"{source}linear2.weight" in state else \
            out[f"{target}proj_out.weight"].shape[0]
        for kind in ("weight", "bias"):
            if f"{source}linear1.{kind}" in state:
                fused = state.pop(f"{source}linear1.{kind}")
                pieces = torch.split(fused, (width, width, width, fused.shape[0] - 3 * width), dim=0)
                for part, tensor in zip(_SINGLE_FUSED, pieces):
                    out[f"{target}{part}.{kind}"] = tensor
    out.update(state)  # leftovers: reported by the loader as unexpected
    return out


def transformer_from_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers' FluxTransformer2DModel state dict in the original names (no prefix)."""
    out: dict[str, torch.Tensor] = {}
    for original, ours in TOP_LAYERS:
        for kind in ("weight", "bias"):
            if f"{ours}.{kind}" in state:
                out[f"{original}.{kind}"] = state[f"{ours}.{kind}"]
    for kind in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{kind}"] = _swap_halves(state[f"norm_out.linear.{kind}"])
    for i in _block_indices(state, "transformer_blocks."):
        ours, original = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for a, b in DOUBLE_BLOCK_LAYERS:
            for kind in ("weight", "bias"):
                out[f"{original}{a}.{kind}"] = state[f"{ours}{b}.{kind}"]
        for a, b in _DOUBLE_NORMS:
            out[original + a] = state[ours + b]
        for fused, parts in _DOUBLE_QKV:
            for kind in ("weight", "bias"):
                out[f"{original}{fused}.{kind}"] = torch.cat([state[f"{ours}{p}.{kind}"] for p in parts], dim=0)
    for i in _block_indices(state, "single_transformer_blocks."):
        ours, original = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for a, b in SINGLE_BLOCK_LAYERS:
            for kind in ("weight", "bias"):
                out[f"{original}{a}.{kind}"] = state[f"{ours}{b}.{kind}"]
        for a, b in _SINGLE_NORMS:
            out[original + a] = state[ours + b]
        for kind in ("weight", "bias"):
            out[f"{original}linear1.{kind}"] = torch.cat([state[f"{ours}{p}.{kind}"] for p in _SINGLE_FUSED], dim=0)
    return out
