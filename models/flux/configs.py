"""FLUX.1 configs without hub access: [dev], [schnell], Fill [dev] and Canny / Depth [dev] ship as JSON
in ``models/configs/``; the family is recognised from tensor shapes (``guidance_in`` is present in dev
only; Fill's ``img_in`` takes 384 features: 64 latent + 64 masked-image latent + 256 packed mask;
Canny's and Depth's 128: 64 latent + 64 control latent, the same shapes for both). Other sizes (tiny
test models, pruned variants) get a config inferred from the shapes; the rotary axes split cannot
be read from shapes, so a file may state it in its ``plexus.config`` metadata."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Mapping

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
FAMILIES = ("flux1_dev", "flux1_schnell", "flux1_fill_dev", "flux1_control_dev")
_STRUCTURAL_KEYS = ("num_layers", "num_single_layers", "attention_head_dim", "num_attention_heads",
                    "joint_attention_dim", "pooled_projection_dim", "in_channels", "guidance_embeds")
Shape = tuple[int, ...]


@lru_cache(maxsize=None)
def family_config(family: str) -> dict:
    return json.loads((CONFIG_DIR / f"{family}.json").read_text())


def _count(shapes: Mapping[str, Shape], pattern: str) -> int:
    indices = {int(m.group(1)) for k in shapes if (m := re.match(pattern, k))}
    return max(indices) + 1 if indices else 0


def _rope_axes(head_dim: int) -> list[int]:
    """FLUX splits each head's rotary dims over (index, row, column) as 16/56/56 of 128."""
    if head_dim == 128:
        return [16, 56, 56]
    first = head_dim // 8 * 2 if head_dim >= 16 else 0
    rest = (head_dim - first) // 4 * 2
    return [head_dim - 2 * rest, rest, rest]


def infer_transformer_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> dict:
    """FluxTransformer2DModel config from original-layout shapes (no prefix)."""
    hints = dict(hints or {})
    if "img_in.weight" not in shapes or "double_blocks.0.img_attn.norm.query_norm.scale" not in shapes:
        raise ValueError("no FLUX tensors (img_in, double_blocks.N.img_attn) found")
    inner, in_channels = shapes["img_in.weight"]
    head_dim = shapes["double_blocks.0.img_attn.norm.query_norm.scale"][0]
    config = {
        "patch_size": 1,
        "in_channels": in_channels,
        "out_channels": None if shapes["final_layer.linear.weight"][0] == in_channels else
        shapes["final_layer.linear.weight"][0],
        "num_layers": _count(shapes, r"double_blocks\.(\d+)\."),
        "num_single_layers": _count(shapes, r"single_blocks\.(\d+)\."),
        "attention_head_dim": head_dim,
        "num_attention_heads": inner // head_dim,
        "joint_attention_dim": shapes["txt_in.weight"][1],
        "pooled_projection_dim": shapes["vector_in.in_layer.weight"][1],
        "guidance_embeds": "guidance_in.in_layer.weight" in shapes,
        "axes_dims_rope": _rope_axes(head_dim),
    }
    config.update({k: v for k, v in hints.items() if k in ("axes_dims_rope", "patch_size")})
    return config


def pick_transformer_config(shapes: Mapping[str, Shape], hints: Mapping | None = None) -> tuple[str, dict]:
    """(family name or "inferred", config): a shipped config when the shapes match one."""
    inferred = infer_transformer_config(shapes, hints)
    for family in FAMILIES:
        shipped = family_config(family)["transformer"]
        if all(shipped.get(k) == inferred.get(k) for k in _STRUCTURAL_KEYS):
            return family, dict(shipped)
    return "inferred", inferred


def sampling_defaults(family: str, guidance_embeds: bool) -> dict:
    """The family's sampling section (mu, dynamic shift bounds); an inferred model samples like the
    shipped family with the same guidance input (dev-like or schnell-like)."""
    if family not in FAMILIES:
        family = "flux1_dev" if guidance_embeds else "flux1_schnell"
    return dict(family_config(family)["sampling"])


def vae_hints() -> dict:
    """The latent scaling of FLUX's VAE (ae.safetensors): the same architecture as SD3's VAE, so it
    cannot be recognised from its shapes."""
    vae = family_config("flux1_dev")["vae"]
    return {"scaling_factor": vae["scaling_factor"], "shift_factor": vae["shift_factor"]}
