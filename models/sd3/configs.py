"""Model configs for SD3 checkpoints, without any hub access.

Known families (SD3 Medium, SD3.5 Medium, SD3.5 Large/Turbo) ship as small JSON files in
``models/configs/``; one is picked when the shapes inferred from the file's tensors match it. Any
other shape (fine-tunes with other sizes, tiny test models) gets the config inferred from the
tensor shapes. A few values cannot be read from shapes (CLIP's head count and activation, the VAE's
group-norm count, the MMDiT head size without qk-norm); a file may state them in its safetensors
metadata under ``plexus.config``, otherwise the standard SD3 values are assumed.
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
FAMILIES = ("sd3_medium", "sd35_medium", "sd35_large")
DEFAULT_SHIFT = 3.0
SD3_VAE_SCALING = 1.5305
SD3_VAE_SHIFT = 0.0609
# Keys compared to recognise a family from inferred shapes.
_STRUCTURAL_KEYS = ("num_layers", "caption_projection_dim", "joint_attention_dim", "pooled_projection_dim",
                    "in_channels", "patch_size", "pos_embed_max_size", "qk_norm", "dual_attention_layers")
Shape = tuple[int, ...]


@lru_cache(maxsize=None)
def family_config(family: str) -> dict:
    return json.loads((CONFIG_DIR / f"{family}.json").read_text())


def embedded_configs(metadata: Mapping[str, str]) -> dict:
    """Component configs stated in a file's safetensors metadata (``plexus.config``), if any."""
    raw = metadata.get("plexus.config")
    return json.loads(raw) if raw else {}


def _count(shapes: Mapping[str, Shape], pattern: str) -> int:
    indices = {int(m.group(1)) for k in shapes if (m := re.match(pattern, k))}
    return max(indices) + 1 if indices else 0


# -- transformer ------------------------------------------------------------------------------------
def infer_transformer_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> dict:
    """SD3Transformer2DModel config from original-layout tensor shapes (no prefix)."""
    hints = dict(hints or {})
    num_layers = _count(shapes, r"joint_blocks\.(\d+)\.")
    if num_layers == 0 or "context_embedder.weight" not in shapes:
        raise ValueError("no MMDiT tensors (joint_blocks, context_embedder) found")
    inner_dim, joint_dim = shapes["context_embedder.weight"]
    proj = shapes["x_embedder.proj.weight"]
    patch = proj[2]
    ln_q = shapes.get("joint_blocks.0.x_block.attn.ln_q.weight")
    qk_norm = None
    if ln_q is not None:
        qk_norm = "layer_norm" if "joint_blocks.0.x_block.attn.ln_q.bias" in shapes else "rms_norm"
    head_dim = ln_q[0] if ln_q is not None else int(hints.get("attention_head_dim", 64))
    if inner_dim % head_dim:
        head_dim = int(hints.get("attention_head_dim", math.gcd(inner_dim, 64)))
    return {
        "sample_size": int(hints.get("sample_size", 128)),
        "patch_size": patch,
        "in_channels": proj[1],
        "out_channels": shapes["final_layer.linear.weight"][0] // (patch * patch),
        "num_layers": num_layers,
        "attention_head_dim": head_dim,
        "num_attention_heads": inner_dim // head_dim,
        "joint_attention_dim": joint_dim,
        "caption_projection_dim": inner_dim,
        "pooled_projection_dim": shapes["y_embedder.mlp.0.weight"][1],
        "pos_embed_max_size": int(round(math.sqrt(shapes["pos_embed"][1]))),
        "qk_norm": qk_norm,
        "dual_attention_layers": sorted({int(k.split(".")[1]) for k in shapes if ".attn2." in k}),
    }


def pick_transformer_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> tuple[str, dict]:
    """(family name or "inferred", config): a shipped config when the shapes match one."""
    inferred = infer_transformer_config(shapes, hints)
    for family in FAMILIES:
        shipped = family_config(family)["transformer"]
        if all(shipped.get(k) == inferred.get(k) for k in _STRUCTURAL_KEYS):
            return family, dict(shipped)
    return "inferred", inferred


# -- VAE --------------------------------------------------------------------------------------------
def infer_vae_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> dict:
    """AutoencoderKL config from LDM-layout tensor shapes (no prefix)."""
    hints = dict(hints or {})
    blocks = _count(shapes, r"encoder\.down\.(\d+)\.")
    if blocks == 0 or "decoder.conv_in.weight" not in shapes:
        raise ValueError("no VAE tensors (encoder.down, decoder.conv_in) found")
    channels = [shapes[f"encoder.down.{i}.block.0.conv1.weight"][0] for i in range(blocks)]
    shipped = family_config("sd3_medium")["vae"]
    latent = shapes["decoder.conv_in.weight"][1]
    config = {
        "in_channels": shapes["encoder.conv_in.weight"][1],
        "out_channels": shapes["decoder.conv_out.weight"][0],
        "down_block_types": ["DownEncoderBlock2D"] * blocks,
        "up_block_types": ["UpDecoderBlock2D"] * blocks,
        "block_out_channels": channels,
        "layers_per_block": _count(shapes, r"encoder\.down\.0\.block\.(\d+)\."),
        "act_fn": "silu",
        "latent_channels": latent,
        "norm_num_groups": int(hints.get("norm_num_groups", 32 if all(c % 32 == 0 for c in channels)
                                         else math.gcd(*channels))),
        "sample_size": int(hints.get("sample_size", 1024)),
        "scaling_factor": float(hints.get("scaling_factor", SD3_VAE_SCALING)),
        "shift_factor": float(hints.get("shift_factor", SD3_VAE_SHIFT)),
        "use_quant_conv": "quant_conv.weight" in shapes,
        "use_post_quant_conv": "post_quant_conv.weight" in shapes,
    }
    if all(config.get(k) == shipped.get(k) for k in ("block_out_channels", "layers_per_block", "latent_channels",
                                                       "use_quant_conv")):
        # Same architecture as SD3's VAE (FLUX's ae.safetensors too): only the latent scaling differs.
        return dict(shipped, scaling_factor=config["scaling_factor"], shift_factor=config["shift_factor"])
    return config


# -- text encoders ----------------------------------------------------------------------------------
_KNOWN_CLIP = {768: ("clip_l", 12, "quick_gelu"), 1280: ("clip_g", 20, "gelu")}


def infer_clip_config(shapes: Mapping[str, Shape], role: str, hints: Mapping | None = None) -> dict:
    """CLIPTextConfig fields from transformers-layout shapes (``text_model.*``, ``text_projection``)."""
    hints = dict(hints or {})
    vocab, hidden = shapes["text_model.embeddings.token_embedding.weight"]
    known = _KNOWN_CLIP.get(hidden)
    if known and not hints:
        config = dict(family_config("sd3_medium")[known[0]])
        if shapes.get("text_model.encoder.layers.0.mlp.fc1.weight", (config["intermediate_size"],))[0] == \
                config["intermediate_size"] and _count(shapes, r"text_model\.encoder\.layers\.(\d+)\.") == \
                config["num_hidden_layers"]:
            return config
    projection = shapes.get("text_projection.weight", (hidden, hidden))
    config = {
        "hidden_size": hidden,
        "intermediate_size": shapes["text_model.encoder.layers.0.mlp.fc1.weight"][0],
        "num_attention_heads": known[1] if known else max(1, hidden // 64),
        "num_hidden_layers": _count(shapes, r"text_model\.encoder\.layers\.(\d+)\."),
        "projection_dim": projection[0],
        "hidden_act": known[2] if known else ("quick_gelu" if role == "clip_l" else "gelu"),
        "max_position_embeddings": shapes["text_model.embeddings.position_embedding.weight"][0],
        "vocab_size": vocab,
        "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1,
    }
    config.update(hints)
    return config


def infer_t5_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> dict:
    """T5Config fields for a T5 encoder from transformers-layout shapes."""
    vocab, d_model = shapes["shared.weight"] if "shared.weight" in shapes else shapes["encoder.embed_tokens.weight"]
    buckets, heads = shapes["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in shapes
    ff_key = "wi_0" if gated else "wi"
    config = {
        "d_model": d_model,
        "d_kv": shapes["encoder.block.0.layer.0.SelfAttention.q.weight"][0] // heads,
        "d_ff": shapes[f"encoder.block.0.layer.1.DenseReluDense.{ff_key}.weight"][0],
        "num_layers": _count(shapes, r"encoder\.block\.(\d+)\."),
        "num_heads": heads,
        "feed_forward_proj": "gated-gelu" if gated else "relu",
        "vocab_size": vocab,
        "relative_attention_num_buckets": buckets,
        "relative_attention_max_distance": 128,
        "layer_norm_epsilon": 1e-6,
    }
    config.update(dict(hints or {}))
    return config


def shapes_of(tensors: Mapping) -> dict[str, Shape]:
    """Name -> shape for tensors or for a safetensors header."""
    out = {}
    for name, value in tensors.items():
        shape = value["shape"] if isinstance(value, dict) else value.shape
        out[name] = tuple(int(s) for s in shape)
    return out


def role_of_clip(shapes: Mapping[str, Shape], names: Iterable[str] = ()) -> str:
    """clip_l or clip_g for a standalone CLIP text encoder file (by width, then by name)."""
    hidden = shapes["text_model.embeddings.token_embedding.weight"][1]
    if hidden in _KNOWN_CLIP:
        return _KNOWN_CLIP[hidden][0]
    lowered = " ".join(names).lower()
    return "clip_g" if ("clip_g" in lowered or "bigg" in lowered) else "clip_l"
