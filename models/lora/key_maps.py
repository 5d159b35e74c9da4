"""Where a LoRA's module names land in a model family's torch modules: one key map per family.

A key map answers, for every module name spelling a LoRA file may use (kohya, ComfyUI/generic,
diffusers/PEFT, ...), which module of which component it adapts and which part of that module's
output rows (a fused ``qkv`` LoRA splits over diffusers' separate ``to_q/to_k/to_v``). Families
add one module with a ``build_key_map(model, clip)`` function and name it in ``FAMILY_MODULES``
(see ``models/lora/sd3.py``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

MODEL_COMPONENT = "diffusion_model"


@dataclass(frozen=True)
class Target:
    """One module an adapter feeds: ``component`` (``diffusion_model`` or a text encoder's role),
    the module's path inside that component, the slice of the adapter's output rows that belongs
    to it, and whether the two halves of those rows are swapped (adaLN shift/scale order)."""
    component: str
    module: str
    rows: tuple[int, int] | None = None
    swap_halves: bool = False


@dataclass
class KeyMap:
    """stem -> targets, plus the stem prefixes that belong to a component even when that component
    is absent (a text-encoder key given to LoraLoaderModelOnly is skipped, not an error)."""
    targets: dict[str, list[Target]]
    component_prefixes: dict[str, tuple[str, ...]]

    def component_of_unknown(self, stem: str) -> str | None:
        for component, prefixes in self.component_prefixes.items():
            if stem.startswith(prefixes):
                return component
        return None


# family -> the module whose ``build_key_map(model, clip) -> KeyMap`` serves it. ``model`` / ``clip``
# are the family's MODEL and CLIP values (either may be None).
FAMILY_MODULES = {"flux": "models.lora.flux", "sd3": "models.lora.sd3",
                  "stable_diffusion": "models.lora.stable_diffusion"}  # SD 1.x / SDXL


def key_map_for(family: str, model: Any, clip: Any) -> KeyMap:
    module_name = FAMILY_MODULES.get(family)
    if module_name is None:
        raise ValueError(f"LoRA is not supported for the {family!r} model family yet; supported: "
                         f"{', '.join(sorted(FAMILY_MODULES))}")
    return importlib.import_module(module_name).build_key_map(model, clip)


def underscored(name: str) -> str:
    """kohya's spelling of a module path: dots become underscores."""
    return name.replace(".", "_")


def linear_like_modules(module: Any) -> list[str]:
    """Paths of the Linear and Conv2d modules inside a torch module (what a LoRA can adapt)."""
    import torch

    return [name for name, child in module.named_modules()
            if isinstance(child, (torch.nn.Linear, torch.nn.Conv2d)) and name]


def add_transformer_targets(targets: dict[str, list[Target]], transformer: Any,
                            original_targets: dict[str, list[Target]], diffusers_prefixes: tuple[str, ...],
                            underscored_prefixes: tuple[str, ...], original_prefixes: tuple[str, ...]) -> None:
    """The spellings every DiT family shares: kohya and ComfyUI names on the original layout
    (``original_targets``: original module name -> targets), and diffusers/PEFT names, dotted or
    underscored, on diffusers' own modules."""
    for original, found in original_targets.items():
        targets["lora_unet_" + underscored(original)] = found
        for prefix in original_prefixes:
            targets[prefix + original] = found
    for name in linear_like_modules(transformer):
        found = [Target(MODEL_COMPONENT, name)]
        for prefix in diffusers_prefixes:
            targets.setdefault(prefix + name, found)
        for prefix in underscored_prefixes:
            targets[prefix + underscored(name)] = found
