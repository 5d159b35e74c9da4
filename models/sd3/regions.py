"""Regional conditioning (ConditioningSetArea, ConditioningSetMask): where in the latent an entry
applies and how much it weighs there.

Extras read: ``area = (height, width, y, x)`` in latent pixels (the node divides image pixels by
8); ``strength``; ``mask`` ([B or 1, H, W], resized to the latent) with ``mask_strength``; and
``set_area_to_bounds`` (predict only on the mask's bounding box). An area entry is predicted on
its crop of the latent, its weight fading in over 8 latent pixels at edges inside the latent. Each
side's prediction is the weighted mean of its entries where they apply, zero where none does.
"""
from __future__ import annotations

import torch

FEATHER = 8


def is_regional(extras: dict) -> bool:
    return extras.get("area") is not None or extras.get("mask") is not None


def _mask_at(extras: dict, height: int, width: int) -> torch.Tensor:
    mask = extras["mask"].float()
    mask = mask.reshape(-1, 1, *mask.shape[-2:])
    mask = torch.nn.functional.interpolate(mask, size=(height, width), mode="bilinear")
    return mask * float(extras.get("mask_strength", 1.0))


def region_of(extras: dict, latent_shape: tuple) -> tuple[tuple[int, int, int, int], torch.Tensor]:
    """((y0, y1, x0, x1), weight [B or 1, 1, y1 - y0, x1 - x0]) of one conditioning entry."""
    height, width = latent_shape[-2:]
    strength = float(extras.get("strength", 1.0))
    mask = _mask_at(extras, height, width) if extras.get("mask") is not None else None
    y0, y1, x0, x1 = 0, height, 0, width
    if extras.get("area") is not None:
        area_h, area_w, area_y, area_x = (int(v) for v in extras["area"])
        y0, x0 = min(area_y, height - 1), min(area_x, width - 1)
        y1, x1 = min(y0 + max(area_h, 1), height), min(x0 + max(area_w, 1), width)
    elif mask is not None and extras.get("set_area_to_bounds"):
        rows, cols = torch.nonzero(mask.amax(dim=(0, 1)) > 0, as_tuple=True)
        if len(rows):
            y0, y1, x0, x1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    weight = torch.full((1, 1, y1 - y0, x1 - x0), strength)
    if mask is not None:
        weight = weight * mask[..., y0:y1, x0:x1]
    elif extras.get("area") is not None:
        weight = _feathered(weight, (y0, y1, x0, x1), height, width)
    return (y0, y1, x0, x1), weight


def _feathered(weight: torch.Tensor, box: tuple[int, int, int, int], height: int, width: int) -> torch.Tensor:
    y0, y1, x0, x1 = box
    weight = weight.clone()
    for t in range(min(FEATHER, weight.shape[-2] // 2, weight.shape[-1] // 2)):
        ramp = min(1.0, (t + 1) / FEATHER)
        if y0 != 0:
            weight[..., t, :] *= ramp
        if y1 != height:
            weight[..., -1 - t, :] *= ramp
        if x0 != 0:
            weight[..., :, t] *= ramp
        if x1 != width:
            weight[..., :, -1 - t] *= ramp
    return weight


def combine(latent_shape: tuple, parts: list[tuple[tuple[int, int, int, int], torch.Tensor, torch.Tensor]]
            ) -> torch.Tensor:
    """Weighted mean of (box, weight, prediction) parts over the latent."""
    total = torch.zeros(latent_shape)
    count = torch.full((latent_shape[0], 1, *latent_shape[2:]), 1e-37)
    for (y0, y1, x0, x1), weight, prediction in parts:
        weight = weight.to(prediction.dtype)
        total[..., y0:y1, x0:x1] += prediction * weight
        count[..., y0:y1, x0:x1] += weight
    return total / count
