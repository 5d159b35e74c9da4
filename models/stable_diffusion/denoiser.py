"""The per-step U-Net call for SD 1.x / SDXL. Conditioning, CFG batching, timestep ranges and
strengths are the shared ones of ``SD3Denoiser``; what differs is the model call:

- the input is scaled by ``1 / sqrt(sigma^2 + 1)`` and the timestep is read from the model's
  sigma table (``DiscreteSchedule.sigma_to_t``), as diffusers' Euler-family schedulers do;
- the U-Net predicts eps, which is the sampler's derivative ``(x - x0) / sigma``;
- SDXL gets ``added_cond_kwargs``: the pooled OpenCLIP-G output and the size/crop time ids
  ``[height, width, crop_top, crop_left, target_height, target_width]`` (CLIPTextEncodeSDXL; by
  default the latent's pixel size and no crop, as ComfyUI and diffusers use), the refiner
  ``[height, width, crop_top, crop_left, aesthetic_score]`` (6 for prompts, 2.5 for negatives).
"""
from __future__ import annotations

import dataclasses

import torch

from models.sd3.denoiser import DenoiseStep, SD3Denoiser, _control_hints, _fit_width, _to_batch


class UNetDenoiser(SD3Denoiser):
    """Callable ``(x, sigma) -> eps`` for the k-diffusion samplers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pixel_size: tuple[int, int] = (0, 0)

    def prepare(self, latent_shape: tuple) -> None:
        for conditioning in (self.positive, self.negative or []):
            for _, extras in conditioning:
                for hint in _control_hints(extras):
                    if getattr(getattr(hint, "net", None), "family", None) != "stable_diffusion":
                        raise ValueError("this ControlNet was made for another model family (SD3); SD 1.x / SDXL "
                                         "models take SD 1.x / SDXL ControlNets")
        self._pixel_size = (int(latent_shape[-2]) * 8, int(latent_shape[-1]) * 8)
        super().prepare(latent_shape)

    def _time_ids(self, extras: dict, is_negative: bool) -> list[float]:
        height, width = self._pixel_size
        size = [float(extras.get("height", height)), float(extras.get("width", width)),
                float(extras.get("crop_h", 0)), float(extras.get("crop_w", 0))]
        if self.model.variant == "sdxl_refiner":
            return size + [float(extras.get("aesthetic_score", 2.5 if is_negative else 6.0))]
        return size + [float(extras.get("target_height", height)), float(extras.get("target_width", width))]

    def _entry_tensors(self, entry: list, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings, extras = entry[0], entry[1]
        config = self.model.unet.config
        embeddings = _fit_width(embeddings, int(config.cross_attention_dim))
        if config.addition_embed_type != "text_time":
            return _to_batch(embeddings, batch), torch.zeros(batch, 0)
        is_negative = any(entry is other for other in (self.negative or []))
        time_ids = torch.tensor([self._time_ids(extras, is_negative)])
        pooled_width = int(config.projection_class_embeddings_input_dim) - \
            time_ids.shape[1] * int(config.addition_time_embed_dim)
        pooled = extras.get("pooled_output")
        pooled = torch.zeros(1, pooled_width) if pooled is None else _fit_width(pooled, pooled_width)
        # pooled and time ids travel together in the shared denoiser's "pooled" slot
        return _to_batch(embeddings, batch), _to_batch(torch.cat([pooled, time_ids], dim=1), batch)

    def _forward(self, step: DenoiseStep, extras_per_entry: list[dict], batch: int) -> torch.Tensor:
        config = self.model.unet.config
        sigma = torch.tensor(step.sigma, dtype=torch.float32)
        timestep = self.model.sampling.sigma_to_t(sigma).to(self.device).expand(step.x.shape[0])
        added = None
        if config.addition_embed_type == "text_time":
            time_id_count = 5 if self.model.variant == "sdxl_refiner" else 6
            pooled_width = step.pooled_projections.shape[1] - time_id_count
            added = {"text_embeds": step.pooled_projections[:, :pooled_width],
                     "time_ids": step.pooled_projections[:, pooled_width:]}
        cross_attention_kwargs: dict = {}
        for patch in self.model.patches:
            provider = getattr(patch, "cross_attention_kwargs", None)
            if provider is not None:
                cross_attention_kwargs.update(provider(step) or {})
        context = step.encoder_hidden_states
        for patch in self.model.patches:
            provider = getattr(patch, "unet_context", None)  # IP-Adapter: (text, [image tokens]), the U-Net only
            if provider is not None:
                context = provider(step, context)
        scaled = step.x / ((sigma ** 2 + 1) ** 0.5).to(self.device, step.x.dtype)
        # ControlNets see what the U-Net sees: the scaled input, its timestep and the same extras
        control_step = dataclasses.replace(step, x=scaled, timestep=timestep)
        control_step.added_cond_kwargs = added
        residuals = self._control_residuals(control_step, extras_per_entry, batch)
        control = {} if residuals is None else {"down_block_additional_residuals": tuple(residuals[:-1]),
                                                "mid_block_additional_residual": residuals[-1]}
        with torch.inference_mode():
            return self.model.unet(scaled, timestep, encoder_hidden_states=context,
                                   added_cond_kwargs=added, cross_attention_kwargs=cross_attention_kwargs or None,
                                   return_dict=False, **control)[0]
