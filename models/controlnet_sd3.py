"""SD3 ControlNets: loading (diffusers folder or single safetensors file), family checks, and the
per-step residual computation the sampler calls.

A ``CONTROL_NET`` socket value is a :class:`SD3ControlNet` (the loaded module plus its config).
``ControlNetApplyAdvanced`` turns it into a :class:`ControlHint` (net, encoded hint, strength,
range, previous hint) that rides in the conditioning extras under ``"control"``; several applies
chain through ``previous``, and the sampler sums their residuals (as diffusers' multi-ControlNet).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

logger = logging.getLogger(__name__)
CONTROL_KEY = "control"  # conditioning extras key holding the last applied ControlHint
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


@dataclass
class ControlHint:
    """One applied ControlNet: the hint image and how strongly / when it acts. The hint is
    VAE-encoded when sampling starts (:func:`prepare_controls`), at the latent's size."""

    net: SD3ControlNet
    image: torch.Tensor  # IMAGE [B, H, W, C], 0..1
    vae: Any  # the VAE socket value (a wrapper or a diffusers AutoencoderKL)
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: "ControlHint | None" = None
    # Encoded hints by (latent h, latent w, device, dtype): a seed-only re-run reuses them.
    encoded: dict = field(default_factory=dict, repr=False, compare=False)

    def chain(self) -> list["ControlHint"]:
        """This hint and every earlier one, oldest first (the order they were applied)."""
        hints, current = [], self
        while current is not None:
            hints.append(current)
            current = current.previous
        return hints[::-1]

    def with_previous(self, previous: "ControlHint | None") -> "ControlHint":
        return replace(self, previous=previous, encoded={})

    def torch_modules(self) -> list:
        return [hint.net.module for hint in self.chain()]


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
    return SD3ControlNetModel.from_pretrained(folder, torch_dtype=dtype, use_safetensors=True)


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
    config = json.loads(metadata["config"]) if "config" in metadata else infer_sd3_controlnet_config(state_dict)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    module = SD3ControlNetModel.from_config(config)
    missing, unexpected = module.load_state_dict(state_dict, strict=False)
    missing = [k for k in missing if not k.endswith("pos_embed.pos_embed")]
    if missing or unexpected:
        raise ControlNetFormatError(
            f"{file.name}: the weights do not match the SD3 ControlNet shape inferred from them "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return module if dtype == torch.float32 else module.to(dtype)


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


# -- the hint ------------------------------------------------------------------------------------
def vae_module(vae: Any) -> Any:
    """The diffusers AutoencoderKL inside a VAE socket value."""
    for candidate in (vae, getattr(vae, "module", None), getattr(vae, "vae", None), getattr(vae, "model", None)):
        if candidate is not None and hasattr(candidate, "encode") and hasattr(candidate, "config") \
                and hasattr(candidate.config, "scaling_factor"):
            return candidate
    raise TypeError(f"expected a VAE, got {type(vae).__name__}")


def unique_hints(hint_chains: Iterable["ControlHint | None"]) -> list[ControlHint]:
    seen: dict[int, ControlHint] = {}
    for last in hint_chains:
        for hint in (last.chain() if last is not None else ()):
            seen.setdefault(id(hint), hint)
    return list(seen.values())


def prepare_controls(hint_chains: Iterable["ControlHint | None"], transformer: Any, latent_shape: tuple,
                     device: torch.device, dtype: torch.dtype, warn: Callable[[str], None] | None = None,
                     on_device: Callable[..., Any] | None = None) -> None:
    """Before the first step: refuse ControlNets that do not fit the model, and VAE-encode every
    hint at the latent's size (resizing a mismatched hint with a warning)."""
    hints = unique_hints(hint_chains)
    for hint in hints:
        check_controlnet_matches(hint.net, transformer)
    for hint in hints:
        key = (int(latent_shape[-2]), int(latent_shape[-1]), str(device), dtype)
        if key in hint.encoded:
            continue
        vae = vae_module(hint.vae)
        placed = on_device(vae) if on_device is not None else contextlib.nullcontext()
        with placed, torch.inference_mode():
            hint.encoded[key] = encode_hint(hint, vae, key[0], key[1], device, dtype, warn)


def encode_hint(hint: ControlHint, vae: Any, latent_h: int, latent_w: int, device: torch.device,
                dtype: torch.dtype, warn: Callable[[str], None] | None = None) -> torch.Tensor:
    """IMAGE [B,H,W,C] 0..1 -> the ControlNet's hint latent, as diffusers' pipeline prepares it:
    VAE posterior mean (deterministic, where diffusers draws a sample), then ``(z - shift) * scale``
    (no shift for InstantX nets)."""
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    want_h, want_w = latent_h * factor, latent_w * factor
    pixels = hint.image[..., :3].movedim(-1, 1).float()
    if pixels.shape[-2:] != (want_h, want_w):
        message = (f"ControlNet '{hint.net.name}': the hint image is {pixels.shape[-1]}x{pixels.shape[-2]} but "
                   f"the image being generated is {want_w}x{want_h}; the hint was resized to match")
        (warn or logger.warning)(message)
        pixels = torch.nn.functional.interpolate(pixels, size=(want_h, want_w), mode="bilinear",
                                                 align_corners=False, antialias=True).clamp(0.0, 1.0)
    pixels = pixels.to(device=device, dtype=next(vae.parameters()).dtype) * 2.0 - 1.0
    latent = vae.encode(pixels).latent_dist.mode()
    shift = float(getattr(vae.config, "shift_factor", 0.0) or 0.0) if hint.net.uses_vae_shift else 0.0
    return ((latent - shift) * float(vae.config.scaling_factor)).to(dtype)


# -- the per-step call ---------------------------------------------------------------------------
def step_is_active(hint: ControlHint, step_index: int, total_steps: int) -> bool:
    """diffusers' rule: step i of N is controlled when i/N >= start and (i+1)/N <= end."""
    if total_steps <= 0:
        return True
    return not (step_index / total_steps < hint.start_percent or (step_index + 1) / total_steps > hint.end_percent)


def controlnet_residuals(hints_per_row: list[ControlHint | None], hidden_states: torch.Tensor,
                         timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                         pooled_projections: torch.Tensor, transformer: Any, step_index: int,
                         total_steps: int, joint_attention_kwargs: dict | None = None) -> list | None:
    """The summed ControlNet block residuals for a (CFG-)batch, or None when nothing is active.

    ``hints_per_row[i]`` is the hint chain of batch row i (None: no control on that row). Rows
    sharing one chain are run together; rows without control get zero residuals.
    """
    groups: dict[int, tuple[ControlHint, list[int]]] = {}
    for row, hint in enumerate(hints_per_row):
        if hint is not None:
            groups.setdefault(id(hint), (hint, []))[1].append(row)
    total: list | None = None
    for last_hint, rows in groups.values():
        index = torch.tensor(rows, device=hidden_states.device)
        whole_batch = len(rows) == hidden_states.shape[0]
        for hint in last_hint.chain():
            if hint.strength == 0 or not step_is_active(hint, step_index, total_steps):
                continue
            samples = _run_one(hint, rows, index, whole_batch, hidden_states, timestep, encoder_hidden_states,
                               pooled_projections, transformer, joint_attention_kwargs)
            if total is None:
                total = [torch.zeros(hidden_states.shape[0], *s.shape[1:], dtype=s.dtype, device=s.device)
                         for s in samples]
            for accumulated, sample in zip(total, samples):
                if whole_batch:
                    accumulated += sample
                else:
                    accumulated.index_add_(0, index, sample)
    return total


def _run_one(hint: ControlHint, rows: list[int], index: torch.Tensor, whole_batch: bool,
             hidden_states: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
             pooled_projections: torch.Tensor, transformer: Any, joint_attention_kwargs: dict | None) -> list:
    net = hint.net
    module = net.module
    pick = (lambda t: t) if whole_batch else (lambda t: t.index_select(0, index))
    x, t, context = pick(hidden_states), pick(timestep), pick(encoder_hidden_states)
    pooled = pick(pooled_projections)
    if net.config.force_zeros_for_pooled_projection:
        pooled = torch.zeros_like(pooled)  # InstantX nets were trained on zero pooled projections
    if net.config.joint_attention_dim is None:
        context = None  # SD3.5 8B nets do not read the text
    key = (int(x.shape[-2]), int(x.shape[-1]), str(x.device), x.dtype)
    cond = hint.encoded.get(key)
    if cond is None:
        raise RuntimeError(f"ControlNet '{net.name}': the hint was not prepared for a {key[1]}x{key[0]} latent "
                           "(the sampler must call prepare_controls before the first step)")
    if module.pos_embed is None:  # SD3.5 8B nets share the transformer's patch embedding
        x = transformer.pos_embed(x)
    if cond.shape[0] != len(rows):
        cond = cond.repeat(math.ceil(len(rows) / cond.shape[0]), 1, 1, 1)[: len(rows)]
    return module(hidden_states=x, controlnet_cond=cond, conditioning_scale=hint.strength,
                  encoder_hidden_states=context, pooled_projections=pooled, timestep=t,
                  joint_attention_kwargs=joint_attention_kwargs, return_dict=False)[0]
