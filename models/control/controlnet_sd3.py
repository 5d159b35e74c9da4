"""SD3 ControlNets: loading (diffusers folder or single safetensors file) and family checks.

A ``CONTROL_NET`` socket value is a :class:`SD3ControlNet` (the loaded module plus its name).
What the sampler runs per step is in ``models/control/hints.py``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.pickle_guard import from_pretrained_safely

SD3_FAMILY = "sd3"

# Keys that identify ControlNets of other families, with the family named in the error.
_FOREIGN_MARKERS = (
    ("controlnet_cond_embedding.", "SD1.5/SDXL (UNet) ControlNet"),
    ("input_hint_block.", "SD1.5/SDXL (UNet) ControlNet, original layout"),
    ("controlnet_x_embedder.", "Flux ControlNet"),
    ("single_transformer_blocks.", "Flux ControlNet"),
    ("controlnet_mode_embedder.", "union ControlNet"),
)


class ControlNetFormatError(ValueError):
    """A ControlNet file or folder that is not an SD3 ControlNet Plexus can load."""


@dataclass
class SD3ControlNet:
    """A loaded SD3 ControlNet (the ``CONTROL_NET`` socket value)."""

    module: Any  # diffusers SD3ControlNetModel
    name: str
    family: str = SD3_FAMILY

    @property
    def config(self) -> Any:
        return self.module.config

    @property
    def inner_dim(self) -> int:
        return int(self.config.num_attention_heads * self.config.attention_head_dim)

    @property
    def uses_vae_shift(self) -> bool:
        # InstantX nets (force_zeros_for_pooled_projection) were trained without the VAE shift.
        return not bool(self.config.force_zeros_for_pooled_projection)

    def torch_modules(self) -> list:
        return [self.module]


# -- loading -------------------------------------------------------------------------------------
def load_sd3_controlnet(path: str | Path, dtype: torch.dtype = torch.float32) -> SD3ControlNet:
    """Load an SD3 ControlNet from a diffusers folder or a single safetensors file."""
    path = Path(path)
    if path.is_dir():
        module = _load_folder(path, dtype)
    elif path.suffix.lower() in (".safetensors", ".sft"):
        module = _load_single_file(path, dtype)
    elif path.suffix.lower() in (".ckpt", ".pt", ".pth", ".bin"):
        raise ControlNetFormatError(
            f"{path.name}: pickle-based weights ({path.suffix}) are refused because loading them can run "
            "arbitrary code; use a .safetensors file")
    else:
        raise ControlNetFormatError(f"{path.name}: expected a diffusers folder or a .safetensors file")
    module.eval().requires_grad_(False)
    return SD3ControlNet(module=module, name=path.name)


def _load_folder(folder: Path, dtype: torch.dtype) -> Any:
    from diffusers import SD3ControlNetModel

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ControlNetFormatError(f"{folder.name}: a ControlNet folder needs a config.json (diffusers layout)")
    class_name = json.loads(config_file.read_text()).get("_class_name", "")
    if class_name and class_name != "SD3ControlNetModel":
        raise ControlNetFormatError(
            f"{folder.name}: this is a {class_name}, not an SD3 ControlNet (SD3ControlNetModel); "
            "only SD3/SD3.5 ControlNets work with SD3 models")
    has_weights = any(folder.glob("*.safetensors"))
    if not has_weights:
        raise ControlNetFormatError(f"{folder.name}: no .safetensors weights in the folder (pickles are refused)")
    return from_pretrained_safely(SD3ControlNetModel, folder, torch_dtype=dtype)


def _load_single_file(file: Path, dtype: torch.dtype) -> Any:
    from diffusers import SD3ControlNetModel
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state_dict = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ControlNetFormatError(f"{file.name}: not a readable safetensors file ({error})") from error
    check_sd3_controlnet_keys(state_dict, file.name)
    try:
        config = json.loads(metadata["config"]) if "config" in metadata else infer_sd3_controlnet_config(state_dict)
    except ControlNetFormatError as error:
        raise ControlNetFormatError(f"{file.name}: {error}") from error
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    from accelerate import init_empty_weights

    with init_empty_weights():  # no random init of weights that are about to be replaced
        module = SD3ControlNetModel.from_config(config)
    missing, unexpected = module.load_state_dict(state_dict, strict=False, assign=True)
    if missing or unexpected:
        raise ControlNetFormatError(
            f"{file.name}: the weights do not match the SD3 ControlNet shape inferred from them "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if next(module.parameters()).dtype != dtype:  # assign=True kept the file's dtype
        module = module.to(dtype)
    return module


def check_sd3_controlnet_keys(state_dict: dict, name: str) -> None:
    """Refuse ControlNets of other families with a message naming the family."""
    keys = list(state_dict)
    for marker, family in _FOREIGN_MARKERS:
        if any(key.startswith(marker) or f".{marker}" in key for key in keys):
            raise ControlNetFormatError(
                f"{name}: this is a {family}, not an SD3 ControlNet; it cannot be used with SD3 models")
    if not any(key.startswith("controlnet_blocks.") for key in keys) or "pos_embed_input.proj.weight" not in state_dict:
        raise ControlNetFormatError(
            f"{name}: not an SD3 ControlNet (expected 'controlnet_blocks.N' and 'pos_embed_input.proj' weights "
            "in diffusers' SD3ControlNetModel layout)")


def infer_sd3_controlnet_config(state_dict: dict) -> dict:
    """An SD3ControlNetModel config from tensor shapes. Head size is 64 unless qk-norm weights say
    otherwise (every released SD3/SD3.5 model uses 64)."""
    hint_proj = state_dict["pos_embed_input.proj.weight"]  # [inner, in + extra, p, p]
    inner_dim, hint_channels, patch_size = hint_proj.shape[0], hint_proj.shape[1], hint_proj.shape[2]
    num_layers = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("controlnet_blocks."))
    head_dim = 64
    norm_q = state_dict.get("transformer_blocks.0.attn.norm_q.weight")
    if norm_q is not None:
        head_dim = norm_q.shape[0]
    if inner_dim % head_dim:
        raise ControlNetFormatError(
            f"hidden size {inner_dim} is not a multiple of SD3's head size {head_dim}, so the head count "
            "cannot be inferred; load the diffusers folder (with config.json) instead")
    pos_embed = state_dict.get("pos_embed.proj.weight")
    in_channels = pos_embed.shape[1] if pos_embed is not None else 16
    config: dict[str, Any] = {
        "patch_size": patch_size, "in_channels": in_channels, "out_channels": in_channels,
        "num_layers": num_layers, "attention_head_dim": head_dim, "num_attention_heads": inner_dim // head_dim,
        "extra_conditioning_channels": hint_channels - in_channels,
        "pooled_projection_dim": state_dict["time_text_embed.text_embedder.linear_1.weight"].shape[1],
        "use_pos_embed": pos_embed is not None,
        # InstantX nets (own patch embedding) were trained on zero pooled projections; the official
        # SD3.5 nets (sharing the transformer's patch embedding) read the real ones.
        "force_zeros_for_pooled_projection": pos_embed is not None,
        "qk_norm": "rms_norm" if norm_q is not None else None,
        "dual_attention_layers": sorted({int(k.split(".")[1]) for k in state_dict
                                         if k.startswith("transformer_blocks.") and ".attn2." in k}),
    }
    if "context_embedder.weight" in state_dict:
        joint = state_dict["context_embedder.weight"]
        config.update(joint_attention_dim=joint.shape[1], caption_projection_dim=joint.shape[0])
    else:
        config.update(joint_attention_dim=None)
    table = state_dict.get("pos_embed.pos_embed")
    if table is not None:
        config["pos_embed_max_size"] = int(math.isqrt(table.shape[1]))
    return config


# -- compatibility with the model being sampled ---------------------------------------------------
def check_controlnet_matches(net: SD3ControlNet, transformer: Any) -> None:
    """Raise a clear error when a ControlNet cannot drive this transformer (wrong family or size)."""
    config = transformer.config
    model_class = type(transformer).__name__
    if model_class != "SD3Transformer2DModel":
        raise ControlNetFormatError(
            f"ControlNet '{net.name}' is an SD3 ControlNet but the model is a {model_class}; "
            "use a ControlNet made for that model family")
    model_inner = int(config.num_attention_heads * config.attention_head_dim)
    if model_inner != net.inner_dim or net.config.patch_size != config.patch_size:
        raise ControlNetFormatError(
            f"ControlNet '{net.name}' does not fit this SD3 model: its hidden size is {net.inner_dim} "
            f"(patch {net.config.patch_size}) but the model's is {model_inner} (patch {config.patch_size}); "
            "it was made for another SD3 variant (e.g. SD3 medium vs SD3.5 large)")
    if net.config.in_channels != config.in_channels:
        raise ControlNetFormatError(
            f"ControlNet '{net.name}' expects {net.config.in_channels} latent channels, the model has "
            f"{config.in_channels}")
