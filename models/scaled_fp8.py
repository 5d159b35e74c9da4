"""Comfy-Org "fp8_scaled" weights: fp8 Linear weights with a per-layer ``scale_weight``.

A component stored this way carries a marker tensor ``scaled_fp8`` (all-in-one checkpoints:
``model.diffusion_model.scaled_fp8``, ``text_encoders.t5xxl.transformer.scaled_fp8``; a separate
file: ``scaled_fp8``) and, per Linear, ``<module>.weight`` in fp8 plus ``<module>.scale_weight``
(a float32 scalar or a per-output-channel column) and optionally ``<module>.scale_input``. The
real weight is ``weight.float() * scale_weight``. Other tools spell the pair ``weight_scale`` /
``input_scale``; newer files add a per-layer ``comfy_quant`` JSON tensor. Tensors without a scale
are used as stored.

:func:`dequantize_scaled_fp8` runs on a component's tensors before any key converter sees them
(a converter would otherwise drop the scales silently and give a wrong image).
"""
from __future__ import annotations

import json

import torch

WEIGHT_SCALE_SUFFIXES = (".scale_weight", ".weight_scale")
INPUT_SCALE_SUFFIXES = (".scale_input", ".input_scale")
MARKER = "scaled_fp8"
QUANT_INFO_SUFFIX = ".comfy_quant"
UNCAST_SUFFIXES = WEIGHT_SCALE_SUFFIXES + INPUT_SCALE_SUFFIXES + (MARKER, QUANT_INFO_SUFFIX)


def is_scale_tensor(name: str) -> bool:
    """Names a loader must not cast to the compute dtype (the scale would lose precision)."""
    return name.endswith(UNCAST_SUFFIXES)


def has_scaled_fp8(names) -> bool:
    return any(n == MARKER or n.endswith("." + MARKER) or n.endswith(WEIGHT_SCALE_SUFFIXES) for n in names)


def _check_quant_info(name: str, tensor: torch.Tensor, file_name: str) -> None:
    try:
        info = json.loads(bytes(tensor.to(torch.uint8).flatten().tolist()).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        info = {}
    kind = str(info.get("format", "float8")) if isinstance(info, dict) else "float8"
    if "float8" not in kind and "fp8" not in kind:
        raise ValueError(f"{file_name}: tensor {name!r} says the layer is quantized as {kind!r}; Plexus reads "
                         f"fp8-scaled layers only")


def dequantize_scaled_fp8(tensors: dict[str, torch.Tensor], dtype: torch.dtype | None,
                          file_name: str) -> dict[str, torch.Tensor]:
    """The component's tensors with every scaled fp8 weight multiplied out (in float32, then cast
    to ``dtype``) and the markers and scales removed. Unchanged when nothing is scaled."""
    if not has_scaled_fp8(tensors):
        return tensors
    out = dict(tensors)
    for name in list(tensors):
        if name == MARKER or name.endswith("." + MARKER) or name.endswith(INPUT_SCALE_SUFFIXES):
            del out[name]
        elif name.endswith(QUANT_INFO_SUFFIX):
            _check_quant_info(name, tensors[name], file_name)
            del out[name]
    for name in list(tensors):
        suffix = next((s for s in WEIGHT_SCALE_SUFFIXES if name.endswith(s)), None)
        if suffix is None:
            continue
        weight_name = name[: -len(suffix)] + ".weight"
        if weight_name not in tensors:
            raise ValueError(f"{file_name}: scale {name!r} has no weight {weight_name!r} next to it")
        scale = tensors[name].float()
        weight = tensors[weight_name].float() * (scale if scale.dim() == 0 else scale.reshape(-1, *[1] * (
            tensors[weight_name].dim() - 1)))
        out[weight_name] = weight.to(dtype) if dtype is not None else weight
        del out[name]
    return out


def quantize_scaled_fp8(tensors: dict[str, torch.Tensor], linear_weights: list[str], marker: str = MARKER,
                        fp8: torch.dtype = torch.float8_e4m3fn) -> dict[str, torch.Tensor]:
    """The inverse, as Comfy-Org's files are made (per-tensor scale = max|W| / 448): for tests and
    for converting checkpoints. ``linear_weights`` are the ``*.weight`` names to quantize."""
    out = dict(tensors)
    for name in linear_weights:
        weight = tensors[name].float()
        scale = weight.abs().max().clamp(min=1e-12) / torch.finfo(fp8).max
        out[name] = (weight / scale).to(fp8)
        out[name[: -len(".weight")] + ".scale_weight"] = scale.reshape(())
    out[marker] = torch.empty(0, dtype=fp8)
    return out
