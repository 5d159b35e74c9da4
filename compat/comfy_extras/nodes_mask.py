"""ComfyUI's ``comfy_extras.nodes_mask``: ``composite`` is real; the mask node classes are
Plexus's nodes of those names, looked up when used (raising :class:`NotAvailableInPlexus` for a
name no registered node backs)."""
from __future__ import annotations

from typing import Any

import _comfy_nodes

NODE_NAMES = (
    "LatentCompositeMasked", "ImageCompositeMasked", "MaskToImage", "ImageToMask", "ImageColorToMask",
    "SolidMask", "InvertMask", "CropMask", "MaskComposite", "FeatherMask", "GrowMask", "ThresholdMask",
    "MaskPreview",
)


def composite(destination: Any, source: Any, x: int, y: int, mask: Any = None, multiplier: int = 8,
              resize_source: bool = False) -> Any:
    """Paste ``source`` (``[B, C, h, w]``) onto a copy of ``destination`` (``[B, C, H, W]``) at
    pixel ``(x, y)`` (divided by ``multiplier``: 8 for latents, 1 for images), blended by ``mask``
    (resized bilinearly to the source) and clipped to the destination."""
    import torch.nn.functional as F

    from comfy.utils import repeat_to_batch_size

    destination = destination.clone()
    source = source.to(destination.device, destination.dtype)
    if resize_source:
        source = F.interpolate(source, size=destination.shape[-2:], mode="bilinear")
    source = repeat_to_batch_size(source, destination.shape[0])
    left, top = int(x) // multiplier, int(y) // multiplier
    height, width = source.shape[-2:]
    if mask is None:
        mask = source.new_ones((source.shape[0], 1, height, width))
    else:
        mask = mask.to(destination.device, destination.dtype).reshape(-1, 1, mask.shape[-2], mask.shape[-1])
        mask = repeat_to_batch_size(F.interpolate(mask, size=(height, width), mode="bilinear"), source.shape[0])
    dst_top, dst_left = max(top, 0), max(left, 0)
    dst_bottom, dst_right = min(top + height, destination.shape[-2]), min(left + width, destination.shape[-1])
    if dst_bottom <= dst_top or dst_right <= dst_left:
        return destination
    src = (slice(dst_top - top, dst_bottom - top), slice(dst_left - left, dst_right - left))
    region = (..., slice(dst_top, dst_bottom), slice(dst_left, dst_right))
    blend = mask[(...,) + src]
    destination[region] = source[(...,) + src] * blend + destination[region] * (1.0 - blend)
    return destination


def __getattr__(name: str) -> Any:
    if name in NODE_NAMES:
        return _comfy_nodes.deferred_node_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
