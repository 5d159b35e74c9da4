"""Where a LoRA's module names land in a model family's torch modules: one key map per family.

A key map answers, for every module name spelling a LoRA file may use (kohya, ComfyUI/generic,
diffusers/PEFT, ...), which module of which component it adapts and which part of that module's
output rows (a fused ``qkv`` LoRA splits over diffusers' separate ``to_q/to_k/to_v``). Families
register a builder here; adding SDXL or FLUX LoRAs is one module with one ``register_key_map``
call (see ``models/lora/sd3.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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


# family -> builder(model, clip) -> KeyMap. ``model`` / ``clip`` are the family's MODEL and CLIP
# values (either may be None).
KeyMapBuilder = Callable[[Any, Any], KeyMap]
_BUILDERS: dict[str, KeyMapBuilder] = {}


def register_key_map(family: str, builder: KeyMapBuilder) -> None:
    _BUILDERS[family] = builder


def key_map_for(family: str, model: Any, clip: Any) -> KeyMap:
    if not _BUILDERS:
        _load_builtin_families()
    builder = _BUILDERS.get(family)
    if builder is None:
        raise ValueError(f"LoRA is not supported for the {family!r} model family yet; supported: "
                         f"{', '.join(sorted(_BUILDERS))}")
    return builder(model, clip)


def _load_builtin_families() -> None:
    import models.lora.flux  # noqa: F401 - registers "flux"
    import models.lora.sd3  # noqa: F401 - registers "sd3"
    import models.lora.stable_diffusion  # noqa: F401 - registers "stable_diffusion" (SD 1.x / SDXL)


def underscored(name: str) -> str:
    """kohya's spelling of a module path: dots become underscores."""
    return name.replace(".", "_")


def linear_like_modules(module: Any) -> list[str]:
    """Paths of the Linear and Conv2d modules inside a torch module (what a LoRA can adapt)."""
    import torch

    return [name for name, child in module.named_modules()
            if isinstance(child, (torch.nn.Linear, torch.nn.Conv2d)) and name]
