"""Applying LoRA adapters to a model family's MODEL and CLIP: binding a file's adapters to modules
through the family's key map, and the patch that adds them during a run.

The patch never writes to the cached weights. While a sampling (or text-encoding) run holds
:meth:`LoraPatch.apply`, each adapted module gets a forward hook adding
``strength * alpha/rank * up(down(x))`` to its output, computed as PEFT computes it; the hooks
are removed when the run ends. So one cached base serves a LoRA'd and a plain sampler, stacking is
several patches, and a re-run neither reloads nor re-patches anything.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from models.lora.adapters import LoraFile, LoraFormatError, LowRankAdapter
from models.lora.key_maps import MODEL_COMPONENT, Target, key_map_for


@dataclass(frozen=True, eq=False)
class BoundAdapter:
    """One adapter on one module: ``up`` already cut to the module's rows."""
    module: str
    up: torch.Tensor
    down: torch.Tensor
    scale: float


@dataclass(frozen=True, eq=False)
class LoraPatch:
    """A model patch (``apply(module)`` context manager) for one component of a model."""
    name: str
    component: str
    adapters: tuple[BoundAdapter, ...]
    _placed: dict = field(default_factory=dict)  # (device, dtype) -> [(up, down)] for this patch

    def _weights_on(self, device: torch.device, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
        key = (str(device), dtype)
        if key not in self._placed:
            self._placed.clear()  # keep one placement only
            self._placed[key] = [(a.up.to(device, dtype), a.down.to(device, dtype)) for a in self.adapters]
        return self._placed[key]

    @contextmanager
    def apply(self, root: torch.nn.Module) -> Iterator[None]:
        handles = []
        try:
            for adapter, index in zip(self.adapters, range(len(self.adapters))):
                module = root.get_submodule(adapter.module)
                handles.append(module.register_forward_hook(self._hook(index, adapter.scale)))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, index: int, scale: float) -> Callable:
        def add_low_rank(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            x = inputs[0]
            up, down = self._weights_on(x.device, x.dtype)[index]
            if isinstance(module, torch.nn.Conv2d):
                hidden = F.conv2d(x, down, stride=module.stride, padding=module.padding, dilation=module.dilation)
                delta = F.conv2d(hidden, up)
            else:
                delta = F.linear(F.linear(x, down), up)
            return output + delta * scale
        return add_low_rank


def _cut(adapter: LowRankAdapter, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    up, down = adapter.up, adapter.down
    if target.rows is not None:
        up = up[target.rows[0]:target.rows[1]]
    if target.swap_halves:
        first, second = up.chunk(2, dim=0)
        up = torch.cat([second, first], dim=0)
    return up.contiguous(), down.contiguous()


def _check_fits(lora_name: str, stem: str, module: torch.nn.Module, up: torch.Tensor, down: torch.Tensor) -> None:
    if isinstance(module, torch.nn.Conv2d):
        if up.dim() == 2:
            up = up[:, :, None, None]
        fits = (down.dim() == 4 and down.shape[1] == module.in_channels and tuple(down.shape[2:]) ==
                tuple(module.kernel_size) and up.shape[0] == module.out_channels)
        expected = f"[{module.out_channels}, r] x [r, {module.in_channels}, {module.kernel_size}]"
    else:
        fits = down.dim() == 2 and down.shape[1] == module.in_features and up.shape[0] == module.out_features
        expected = f"[{module.out_features}, r] x [r, {module.in_features}]"
    if not fits:
        raise LoraFormatError(f"{lora_name}: adapter {stem!r} has shapes {list(up.shape)} x {list(down.shape)}, "
                              f"but the module it targets needs {expected}; the LoRA was made for another model")


def lora_patches(lora: LoraFile, family: str, model: Any, clip: Any, strength_model: float, strength_clip: float,
                 warn: Callable[[str], None] | None = None) -> dict[str, LoraPatch]:
    """component -> patch. Components with strength 0 (or absent) get none."""
    key_map = key_map_for(family, model, clip)
    modules: dict[str, torch.nn.Module] = {}
    if model is not None and strength_model != 0:
        modules[MODEL_COMPONENT] = model.transformer
    for role in ("clip_l", "clip_g", "t5xxl"):
        encoder = getattr(clip, role, None) if clip is not None else None
        if encoder is not None and strength_clip != 0:
            modules[role] = encoder.model
    bound: dict[str, list[BoundAdapter]] = {}
    unknown, skipped = [], []
    for stem, adapter in lora.adapters.items():
        targets = key_map.targets.get(stem)
        if targets is None:
            component = key_map.component_of_unknown(stem)
            present = component is not None and (getattr(clip, component, None) is not None
                                                 if component != MODEL_COMPONENT else model is not None)
            (unknown if component is None or present else skipped).append(stem)
            continue
        for target in targets:
            module = modules.get(target.component)
            if module is None:
                continue  # that component is absent or at strength 0
            strength = strength_model if target.component == MODEL_COMPONENT else strength_clip
            up, down = _cut(adapter, target)
            submodule = module.get_submodule(target.module)
            _check_fits(lora.name, stem, submodule, up, down)
            if isinstance(submodule, torch.nn.Conv2d) and up.dim() == 2:
                up = up[:, :, None, None]
            bound.setdefault(target.component, []).append(
                BoundAdapter(target.module, up, down, float(strength) * adapter.scale))
    if unknown:
        raise LoraFormatError(f"{lora.name}: {len(unknown)} adapter(s) match no module of this {family} model, "
                              f"e.g. {unknown[:3]}; the LoRA was made for another model family or size")
    if skipped and warn is not None and clip is not None:
        warn(f"{lora.name}: {len(skipped)} adapter(s) for a text encoder that is not loaded were skipped "
             f"(e.g. {skipped[0]!r})")
    return {component: LoraPatch(lora.name, component, tuple(adapters)) for component, adapters in bound.items()}


def apply_lora(lora: LoraFile, model: Any, clip: Any, strength_model: float, strength_clip: float,
               warn: Callable[[str], None] | None = None) -> tuple[Any, Any]:
    """(model, clip) clones carrying the LoRA; the inputs themselves are returned where a strength is 0."""
    family = getattr(model, "family", None) or getattr(clip, "family", None) or "sd3"
    patches = lora_patches(lora, family, model, clip, strength_model, strength_clip, warn)
    if model is not None and MODEL_COMPONENT in patches:
        model = model.with_patch(patches[MODEL_COMPONENT])
    clip_patches = tuple(patch for component, patch in patches.items() if component != MODEL_COMPONENT)
    if clip is not None and clip_patches:
        clip = clip.clone(patches=clip.patches + clip_patches)
    return model, clip
