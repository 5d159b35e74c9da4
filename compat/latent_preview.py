"""ComfyUI's ``latent_preview``: the sampler callback that reports progress with a preview image.

``prepare_callback(model, steps)`` gives ``callback(step, x0, x, total_steps)``: each call sends a
``progress`` event of the running node with a latent-to-RGB preview (unless previews are off,
``--preview-method none``), and checks for an interrupt, like a Plexus sampler step.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import _plexus_binding as binding

MAX_PREVIEW_RESOLUTION = 512


def _preview_method() -> str:
    try:
        return getattr(binding.services(), "preview_method", "latent2rgb") or "none"
    except binding.NotBound:
        return "latent2rgb"


class LatentPreviewer(ABC):
    """Makes a preview image from a latent ``x0`` (``[B, C, h, w]``); the first item is shown."""

    @abstractmethod
    def decode_latent_to_preview(self, x0: Any) -> Any:
        ...

    def decode_latent_to_preview_image(self, preview_format: str, x0: Any) -> tuple[str, Any, int]:
        return preview_format, self.decode_latent_to_preview(x0), MAX_PREVIEW_RESOLUTION


class Latent2RGBPreviewer(LatentPreviewer):
    """A linear map of the latent channels to RGB: ``factors`` is ``[channels][3]``; without
    factors, a grey image of the channel mean."""

    def __init__(self, latent_rgb_factors: Any = None, latent_rgb_factors_bias: Any = None):
        self.factors, self.bias = latent_rgb_factors, latent_rgb_factors_bias
        self._previewers: dict[int, Any] = {}

    def decode_latent_to_preview(self, x0: Any) -> Any:
        import torch

        from models.latent_preview import LatentPreviewer as PlexusPreviewer

        channels = int(x0.shape[1])
        previewer = self._previewers.get(channels)
        if previewer is None:
            weight = bias = None
            if self.factors is not None and len(self.factors) == channels:
                weight = torch.tensor(self.factors, dtype=torch.float32) / 2.0
                bias = torch.tensor(self.latent_bias(), dtype=torch.float32)
            previewer = self._previewers[channels] = PlexusPreviewer(weight, bias, channels, MAX_PREVIEW_RESOLUTION)
        return previewer(x0[:1].float().cpu())

    def latent_bias(self) -> list[float]:
        # ComfyUI's factors map to -1..1 RGB, Plexus's projection to 0..1: halve and shift.
        bias = self.bias if self.bias is not None else [0.0, 0.0, 0.0]
        return [(b + 1.0) / 2.0 for b in bias]


def get_previewer(device: Any = None, latent_format: Any = None) -> LatentPreviewer | None:
    if _preview_method() == "none":
        return None
    return Latent2RGBPreviewer(getattr(latent_format, "latent_rgb_factors", None),
                               getattr(latent_format, "latent_rgb_factors_bias", None))


def set_preview_method(method: Any) -> None:
    """Accepted for compatibility: Plexus's ``--preview-method`` decides."""


def prepare_callback(model: Any, steps: int, x0_output_dict: dict | None = None) -> Any:
    from comfy.utils import ProgressBar

    previewer = get_previewer(None, getattr(getattr(model, "model", None), "latent_format", None))
    bar = ProgressBar(steps)

    def callback(step: int, x0: Any, x: Any, total_steps: int) -> None:
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        preview = previewer.decode_latent_to_preview_image("JPEG", x0) if previewer is not None else None
        bar.update_absolute(step + 1, total_steps, preview)

    return callback
