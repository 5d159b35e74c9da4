"""Reading a LoRA file into low-rank adapters, one per module name as the file spells it.

A LoRA file holds, per adapted module, a pair of matrices under one of several suffix spellings
(kohya ``.lora_up/.lora_down``, PEFT ``.lora_B/.lora_A``, ...) plus an optional ``.alpha``. The
module name ("stem") is left as written; the family's key map (``models/lora/key_maps.py``)
decides which module of the model it adapts. Formats Plexus does not compute (LoHa, LoKr, GLoRA,
OFT, DoRA, full diffs) are refused with a message naming the format and a tensor.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

# (up suffix, down suffix); the first pair found for a stem wins.
ADAPTER_SUFFIXES = (
    (".lora_up.weight", ".lora_down.weight"),
    ("_lora.up.weight", "_lora.down.weight"),
    (".lora_B.weight", ".lora_A.weight"),
    (".lora.up.weight", ".lora.down.weight"),
    (".lora_B", ".lora_A"),
    (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
    (".lora_B.default.weight", ".lora_A.default.weight"),
)
COMPANION_SUFFIXES = (".alpha", ".reshape_weight")
UNSUPPORTED_SUFFIXES = {  # suffix -> the format's name, for the refusal message
    ".hada_w1_a": "LoHa (LyCORIS)", ".hada_w1_b": "LoHa (LyCORIS)", ".hada_w2_a": "LoHa (LyCORIS)",
    ".hada_w2_b": "LoHa (LyCORIS)", ".hada_t1": "LoHa (LyCORIS)", ".hada_t2": "LoHa (LyCORIS)",
    ".lokr_w1": "LoKr (LyCORIS)", ".lokr_w2": "LoKr (LyCORIS)", ".lokr_w1_a": "LoKr (LyCORIS)",
    ".lokr_w1_b": "LoKr (LyCORIS)", ".lokr_w2_a": "LoKr (LyCORIS)", ".lokr_w2_b": "LoKr (LyCORIS)",
    ".lokr_t2": "LoKr (LyCORIS)", ".a1.weight": "GLoRA", ".a2.weight": "GLoRA", ".b1.weight": "GLoRA",
    ".b2.weight": "GLoRA", ".oft_blocks": "OFT/BOFT", ".rescale": "OFT/BOFT", ".diff": "full weight diff",
    ".diff_b": "full bias diff", ".w_norm": "norm diff", ".b_norm": "norm diff", ".set_weight": "weight replacement",
    ".dora_scale": "DoRA", ".lora_mid.weight": "LoCon with a Tucker mid matrix",
}


class LoraFormatError(ValueError):
    """A LoRA file Plexus cannot apply; the message names the file and the offending tensor."""


@dataclass(frozen=True, eq=False)
class LowRankAdapter:
    """``delta W = scale * up @ down`` for one module (convolutions: ``up`` is [out, r, 1, 1])."""
    stem: str
    up: torch.Tensor
    down: torch.Tensor
    alpha: float | None = None

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        """alpha / rank, or 1 without an alpha (PEFT files usually carry none)."""
        return 1.0 if self.alpha is None else float(self.alpha) / self.rank


@dataclass(frozen=True, eq=False)
class LoraFile:
    name: str
    adapters: dict[str, LowRankAdapter]


def adapters_from_tensors(tensors: dict[str, torch.Tensor], name: str) -> LoraFile:
    """Group a LoRA state dict into adapters; every tensor must belong to one."""
    for key in tensors:
        for suffix, format_name in UNSUPPORTED_SUFFIXES.items():
            if key.endswith(suffix):
                raise LoraFormatError(
                    f"{name}: {format_name} adapters are not supported (tensor {key!r}); Plexus applies "
                    f"plain low-rank LoRA/LoCon (up/down or lora_A/lora_B matrices)")
    adapters: dict[str, LowRankAdapter] = {}
    used: set[str] = set()
    for key in sorted(tensors):
        for up_suffix, down_suffix in ADAPTER_SUFFIXES:
            if not key.endswith(up_suffix):
                continue
            stem = key[: -len(up_suffix)]
            down_key = stem + down_suffix
            if stem in adapters or down_key not in tensors:
                continue
            alpha_tensor = tensors.get(stem + ".alpha")
            up, down = tensors[key].float(), tensors[down_key].float()
            if up.shape[1] != down.shape[0]:
                raise LoraFormatError(f"{name}: {key!r} has rank {up.shape[1]} but {down_key!r} has {down.shape[0]}")
            adapters[stem] = LowRankAdapter(stem, up, down, None if alpha_tensor is None else float(alpha_tensor))
            used.update({key, down_key, stem + ".alpha", stem + ".reshape_weight"})
            break
    leftover = sorted(k for k in tensors if k not in used)
    if leftover:
        raise LoraFormatError(f"{name}: {len(leftover)} tensor(s) are not part of any LoRA up/down pair, e.g. "
                              f"{leftover[:3]}; expected pairs such as '<module>.lora_up.weight' + "
                              f"'<module>.lora_down.weight' or '<module>.lora_B.weight' + '<module>.lora_A.weight'")
    if not adapters:
        raise LoraFormatError(f"{name}: no LoRA adapters found (the file has no up/down tensor pairs)")
    return LoraFile(name, adapters)


def read_lora_file(path: Path) -> LoraFile:
    from models.sd3.files import load_tensors, refuse_unsafe

    refuse_unsafe(path)
    return adapters_from_tensors(load_tensors(Path(path)), Path(path).name)
