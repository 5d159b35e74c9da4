"""The per-step FLUX model call. Conditioning, CFG batching, timestep ranges and strengths are the
shared ones of ``SD3Denoiser``; what differs is the tensors handed to the transformer:

- the 16-channel latent is packed into 2x2 patches ``[b, h/2 * w/2, 64]`` with their (0, row,
  column) position ids, and unpacked afterwards (diffusers' ``FluxPipeline._pack_latents``);
- the text embeddings are T5's alone, with all-zero position ids; the pooled vector is CLIP-L's;
- guidance-distilled models (dev) get ``extras["guidance"]`` (FluxGuidance, CLIPTextEncodeFlux;
  3.5 when absent) as an input, so CFG 1 is one forward pass per step and needs no negative;
- the timestep is the sigma itself (``t / 1000``);
- FLUX Fill / Canny / Depth take an image latent (and Fill a mask) as extra channels
  (``models/flux/concat.py``).
"""
from __future__ import annotations

import torch

from models.flux.concat import concat_input
from models.flux.wrappers import DEFAULT_GUIDANCE
from models.sd3.denoiser import DenoiseStep, SD3Denoiser, _control_hints, _fit_width, _to_batch


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = latents.shape
    patches = latents.view(batch, channels, height // 2, 2, width // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return patches.reshape(batch, (height // 2) * (width // 2), channels * 4)


def unpack_latents(packed: torch.Tensor, height: int, width: int) -> torch.Tensor:
    batch, _, features = packed.shape
    patches = packed.view(batch, height // 2, width // 2, features // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return patches.reshape(batch, features // 4, height, width)


def latent_position_ids(height: int, width: int) -> torch.Tensor:
    """[(h/2)*(w/2), 3] ids (0, row, column) of the packed patches."""
    ids = torch.zeros(height // 2, width // 2, 3)
    ids[..., 1] = torch.arange(height // 2)[:, None]
    ids[..., 2] = torch.arange(width // 2)[None, :]
    return ids.reshape(-1, 3)


class FluxDenoiser(SD3Denoiser):
    """Callable ``(x, sigma) -> guided velocity`` for the shared samplers, for FLUX models."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ids: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def prepare(self, latent_shape: tuple) -> None:
        """No FLUX ControlNet exists in Plexus yet: an SD3 hint on FLUX conditioning is refused here,
        before any step, rather than silently ignored."""
        for conditioning in (self.positive, self.negative or []):
            for _, extras in conditioning:
                if _control_hints(extras):
                    raise ValueError("ControlNet hints are not supported with FLUX models yet (the loaded "
                                     "ControlNets are SD3's); remove the ControlNet apply node for FLUX")

    def _entry_tensors(self, entry: list, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings, extras = entry[0], entry[1]
        config = self.model.transformer.config
        pooled = extras.get("pooled_output")
        pooled = torch.zeros(1, config.pooled_projection_dim) if pooled is None else \
            _fit_width(pooled, config.pooled_projection_dim)
        return _to_batch(_fit_width(embeddings, config.joint_attention_dim), batch), _to_batch(pooled, batch)

    def _position_ids(self, text_length: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (text_length, height, width)
        if key not in self._ids:
            self._ids[key] = (torch.zeros(text_length, 3).to(self.device, self.dtype),
                              latent_position_ids(height, width).to(self.device, self.dtype))
        return self._ids[key]

    def _guidance(self, step: DenoiseStep) -> torch.Tensor | None:
        if not self.model.guidance_embeds:
            return None
        values = [float(extras.get("guidance", DEFAULT_GUIDANCE)) for extras in step.extras]
        return torch.tensor(values, dtype=torch.float32, device=self.device)

    def _forward(self, step: DenoiseStep, extras_per_entry: list[dict], batch: int) -> torch.Tensor:
        height, width = step.x.shape[-2:]
        if height % 2 or width % 2:
            raise ValueError(f"FLUX needs latent sides divisible by 2 (images divisible by 16); got a "
                             f"{height}x{width} latent")
        text_ids, image_ids = self._position_ids(step.encoder_hidden_states.shape[1], height, width)
        model_input = step.x
        if self.model.concat_channels:  # Fill, Canny, Depth: image latent (and mask) after the latent
            model_input = concat_input(step.x, extras_per_entry, batch, self.model.latent_channels,
                                       self.model.concat_channels)
        attention_kwargs: dict = {}
        for patch in self.model.patches:
            provider = getattr(patch, "joint_attention_kwargs", None)
            if provider is not None:
                attention_kwargs.update(provider(step) or {})
        with torch.inference_mode():
            packed = self.model.transformer(
                hidden_states=pack_latents(model_input), timestep=step.timestep / 1000, guidance=self._guidance(step),
                pooled_projections=step.pooled_projections, encoder_hidden_states=step.encoder_hidden_states,
                txt_ids=text_ids, img_ids=image_ids, joint_attention_kwargs=attention_kwargs or None,
                return_dict=False)[0]
        return unpack_latents(packed, height, width)
