"""ComfyUI's ``comfy.sampler_helpers``: ``prepare_mask`` is real; the rest works on ComfyUI's
model patchers and raises :class:`NotAvailableInPlexus` when called."""
from __future__ import annotations

from typing import Any

from _unavailable import placeholder_getattr


def prepare_mask(noise_mask: Any, shape: Any, device: Any) -> Any:
    """A ``[B, H, W]`` (or ``[H, W]``) mask resized bilinearly to a latent ``shape`` ``[B, C, h, w]``
    and repeated over its channels and batch."""
    import torch.nn.functional as F

    from comfy.utils import repeat_to_batch_size

    mask = noise_mask.reshape(-1, 1, noise_mask.shape[-2], noise_mask.shape[-1]).float()
    mask = F.interpolate(mask, size=(shape[2], shape[3]), mode="bilinear")
    mask = mask.expand(-1, shape[1], -1, -1)
    return repeat_to_batch_size(mask, shape[0]).to(device)


__getattr__ = placeholder_getattr(__name__, "it prepares ComfyUI model patchers for sampling")
