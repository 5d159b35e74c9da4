"""Comfy-Org "fp8_scaled" weights: fp8 Linear weights with a per-layer ``scale_weight``.

A component is marked by a ``<prefix>scaled_fp8`` tensor (or recognised by an fp8 ``*.weight`` with
a ``*.scale_weight`` sibling; other tools spell it ``*.weight_scale``). The real weight is
``W_fp8.to(float32) * scale_weight``; ``scale_input`` only matters for fp8 matmuls and is dropped.
Tensors without a scale are used as stored. Any family's loader calls :func:`dequantize` on the
raw tensors before converting key names, so the scale keys never reach a converter.
"""
from __future__ import annotations

import torch

_MARKER = "scaled_fp8"
_SCALE_SUFFIXES = ((".scale_weight", ".weight"), (".weight_scale", ".weight"))
_DROPPED_SUFFIXES = (".scale_input", ".input_scale", ".comfy_quant")


def is_scaled_fp8(names) -> bool:
    return any(n == _MARKER or n.endswith("." + _MARKER) or n.endswith(_SCALE_SUFFIXES[0][0])
               or n.endswith(_SCALE_SUFFIXES[1][0]) for n in names)


def dequantize(tensors: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """The tensors with every scaled weight multiplied out (in float32, then ``dtype``) and the
    marker, scale and input-scale tensors removed. Unscaled tensors pass through unchanged."""
    out: dict[str, torch.Tensor] = {}
    scales: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if name == _MARKER or name.endswith("." + _MARKER) or name.endswith(_DROPPED_SUFFIXES):
            continue
        for scale_suffix, weight_suffix in _SCALE_SUFFIXES:
            if name.endswith(scale_suffix):
                scales[name[:-len(scale_suffix)] + weight_suffix] = tensor
                break
        else:
            out[name] = tensor
    for weight_name, scale in scales.items():
        if weight_name not in out:
            raise ValueError(f"scale tensor for {weight_name!r} has no weight beside it")
        weight = out[weight_name].to(torch.float32) * scale.to(torch.float32)
        out[weight_name] = weight.to(dtype) if dtype is not None else weight
    return out
