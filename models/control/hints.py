"""An applied ControlNet (:class:`ControlHint`) and what the sampler asks of it at each model call.

``ControlNetApplyAdvanced`` appends a hint to each conditioning entry's ``extras["control"]``
(a tuple, so several ControlNets stack). The SD3 denoiser (``models/sd3/denoiser.py``) calls
:meth:`ControlHint.prepare` once before the first step (family check, hint encoding at the
latent's size) and :meth:`ControlHint.residuals` at every model call whose progress lies in
``[start_percent, end_percent]``; the residuals of all hints are summed, as diffusers'
multi-ControlNet does.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from models.control.controlnet_sd3 import SD3ControlNet, check_controlnet_matches

logger = logging.getLogger(__name__)
CONTROL_KEY = "control"  # conditioning extras key: a tuple of ControlHint, oldest first


@dataclass(eq=False)
class ControlHint:
    """One applied ControlNet: the hint image and how strongly / when it acts."""

    net: SD3ControlNet
    image: torch.Tensor  # IMAGE [B, H, W, C], 0..1
    vae: Any  # the VAE socket value (a wrapper or a diffusers AutoencoderKL)
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    # Encoded hints by (latent h, latent w, device, dtype): a seed-only re-run reuses them.
    encoded: dict = field(default_factory=dict, repr=False)
    _fits: set = field(default_factory=set, repr=False)  # ids of transformers already checked

    def torch_modules(self) -> list:
        return [self.net.module]

    # -- before the first step --------------------------------------------------------------------
    def prepare(self, transformer: Any, latent_shape: tuple, device: torch.device, dtype: torch.dtype,
                warn: Callable[[str], None] | None = None, manager: Any = None) -> None:
        """Refuse a ControlNet that does not fit the model, and VAE-encode the hint at the latent's
        size (a mismatched hint is resized, with a warning naming both sizes)."""
        if id(transformer) not in self._fits:
            check_controlnet_matches(self.net, transformer)
            self._fits.add(id(transformer))
        key = (int(latent_shape[-2]), int(latent_shape[-1]), str(device), dtype)
        if key in self.encoded:
            return
        vae = vae_module(self.vae)
        placed = manager.on_device(vae) if manager is not None else contextlib.nullcontext()
        with placed, torch.inference_mode():
            self.encoded[key] = encode_hint(self, vae, key[0], key[1], device, dtype, warn)

    # -- at each model call -----------------------------------------------------------------------
    def residuals(self, step: Any) -> list | None:
        """Block residuals for the rows of ``step`` (a ``DenoiseStep``), or None at strength 0."""
        if self.strength == 0:
            return None
        x = step.x
        manager = getattr(step, "manager", None)
        transformer = step.model.transformer
        self.prepare(transformer, tuple(x.shape), x.device, x.dtype, getattr(step, "warn", None), manager)
        cond = self.encoded[(int(x.shape[-2]), int(x.shape[-1]), str(x.device), x.dtype)]
        placed = manager.on_device(self.net.module) if manager is not None else contextlib.nullcontext()
        with placed, torch.inference_mode():
            return run_controlnet(self.net, cond, self.strength, x, step.timestep, step.encoder_hidden_states,
                                  step.pooled_projections, transformer)


def run_controlnet(net: SD3ControlNet, cond: torch.Tensor, strength: float, x: torch.Tensor,
                   timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                   pooled_projections: torch.Tensor, transformer: Any) -> list:
    """One ControlNet forward for a batch, with the inputs diffusers' SD3 ControlNet pipeline gives."""
    module = net.module
    config = net.config
    pooled = torch.zeros_like(pooled_projections) if config.force_zeros_for_pooled_projection \
        else pooled_projections  # InstantX nets were trained on zero pooled projections
    context = encoder_hidden_states if config.joint_attention_dim is not None else None  # SD3.5 8B: no text
    hidden = transformer.pos_embed(x) if module.pos_embed is None else x  # SD3.5 8B: shared patch embedding
    if cond.shape[0] != x.shape[0]:
        cond = cond.repeat(-(-x.shape[0] // cond.shape[0]), 1, 1, 1)[: x.shape[0]]
    return list(module(hidden_states=hidden, controlnet_cond=cond.to(x.dtype), conditioning_scale=strength,
                       encoder_hidden_states=context, pooled_projections=pooled, timestep=timestep,
                       return_dict=False)[0])


def vae_module(vae: Any) -> Any:
    """The diffusers AutoencoderKL inside a VAE socket value."""
    for candidate in (vae, getattr(vae, "vae", None), getattr(vae, "module", None)):
        if candidate is not None and hasattr(candidate, "encode") and hasattr(getattr(candidate, "config", None),
                                                                              "scaling_factor"):
            return candidate
    raise TypeError(f"expected a VAE, got {type(vae).__name__}")


def encode_hint(hint: ControlHint, vae: Any, latent_h: int, latent_w: int, device: torch.device,
                dtype: torch.dtype, warn: Callable[[str], None] | None = None) -> torch.Tensor:
    """IMAGE [B,H,W,C] 0..1 -> the ControlNet's hint latent, as diffusers' pipeline prepares it:
    the VAE posterior mean (deterministic; diffusers draws a sample with the global RNG), then
    ``(z - shift) * scale`` (no shift for InstantX nets, which were trained without it)."""
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    want_h, want_w = latent_h * factor, latent_w * factor
    pixels = hint.image[..., :3].movedim(-1, 1).float()
    if tuple(pixels.shape[-2:]) != (want_h, want_w):
        message = (f"ControlNet '{hint.net.name}': the hint image is {pixels.shape[-1]}x{pixels.shape[-2]} but "
                   f"the image being generated is {want_w}x{want_h}; the hint was resized to {want_w}x{want_h}")
        (warn or logger.warning)(message)
        pixels = torch.nn.functional.interpolate(pixels, size=(want_h, want_w), mode="bilinear",
                                                 align_corners=False, antialias=True).clamp(0.0, 1.0)
    vae_dtype = next(vae.parameters()).dtype
    pixels = pixels.to(device=device, dtype=vae_dtype) * 2.0 - 1.0
    latent = vae.encode(pixels).latent_dist.mode()
    shift = float(getattr(vae.config, "shift_factor", 0.0) or 0.0) if hint.net.uses_vae_shift else 0.0
    return ((latent - shift) * float(vae.config.scaling_factor)).to(dtype)
