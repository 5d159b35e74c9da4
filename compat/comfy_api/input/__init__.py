"""ComfyUI's ``comfy_api.input`` (a backward-compatibility shim): the socket value types packs
annotate with. IMAGE, MASK and LATENT values are torch tensors / latent dicts, as in ComfyUI;
torch is imported only when a pack reads one of these names."""
from __future__ import annotations

from typing import Any

from models.video.container import VideoInput  # what LoadVideo / CreateVideo produce

AudioInput = dict  # {"waveform": tensor, "sample_rate": int}
LatentInput = dict  # {"samples": tensor, ...}


def __getattr__(name: str) -> Any:
    if name in ("ImageInput", "MaskInput"):
        import torch

        return torch.Tensor
    raise AttributeError(name)


__all__ = ["ImageInput", "MaskInput", "AudioInput", "LatentInput", "VideoInput"]
