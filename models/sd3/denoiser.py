"""The per-step SD3 model call: conditioning, CFG batched in one forward pass, and the hooks for
ControlNet residuals and model patches (IP-Adapter). See ``models/samplers.py`` for the contract.

CONDITIONING is a list of ``[embeddings [b, seq, width], extras]`` with ``extras["pooled_output"]``.
Extras used here:

- ``start_percent`` / ``end_percent`` (ConditioningSetTimestepRange): the entry is used only while
  the sampling progress lies in that range;
- ``strength`` (default 1): weight of the entry when several are active (ConditioningCombine
  averages their predictions);
- ``control``: a ControlNet hint object, or a list of them (issue 5), asked for residuals.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from models.guidance import GuidanceStep
from models.sampling import is_guidance_patch, sampling_of
from models.sd3.regions import combine, is_regional, region_of
from models.sd3.wrappers import SD3Model


@dataclass
class DenoiseStep:
    """What hooks see at one model call. Rows of ``x`` belong to conditioning entries in order."""
    model: SD3Model
    manager: Any
    sigma: float
    percent: float  # 0 at the start of sampling, 1 at the end
    x: torch.Tensor
    timestep: torch.Tensor
    encoder_hidden_states: torch.Tensor
    pooled_projections: torch.Tensor
    is_uncond: list[bool] = field(default_factory=list)  # one flag per row
    extras: list[dict] = field(default_factory=list)  # conditioning extras, one per row


def _in_range(extras_or_hint: Any, percent: float, model: Any, sigma: float) -> bool:
    get = extras_or_hint.get if isinstance(extras_or_hint, dict) else (
        lambda k, d=None: getattr(extras_or_hint, k, d))
    start, end = float(get("start_percent", 0.0)), float(get("end_percent", 1.0))
    if start <= 0.0 and end >= 1.0:
        return True
    # Compare in sigma space so that the boundaries fall on the same steps as the schedule.
    rules = sampling_of(model)
    return rules.percent_to_sigma(end) <= sigma <= rules.percent_to_sigma(start)


def _control_hints(extras: dict) -> list:
    hints = extras.get("control")
    if hints is None:
        return []
    return list(hints) if isinstance(hints, (list, tuple)) else [hints]


class SD3Denoiser:
    """Callable ``(x, sigma) -> guided velocity`` for the samplers."""

    def __init__(self, model: SD3Model, positive: list, negative: list | None, cfg: float, manager: Any,
                 warn: Callable[[str], None] | None = None):
        self.model = model
        self.warn = warn
        self.positive = positive
        self.negative = negative if (negative is not None and cfg != 1.0) else None
        self.cfg = float(cfg)
        self.manager = manager
        self.device = manager.device
        self.dtype = compute_dtype(model.transformer)
        self._group_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._entry_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # entries live as long as self

    def prepare(self, latent_shape: tuple) -> None:
        """Before the first step: each ControlNet hint with a ``prepare`` checks that it fits the
        model and encodes its image at the latent's size (a bad fit fails here, before sampling)."""
        seen: set[int] = set()
        for conditioning in (self.positive, self.negative or []):
            for _, extras in conditioning:
                for hint in _control_hints(extras):
                    prepare = getattr(hint, "prepare", None)
                    if prepare is not None and id(hint) not in seen:
                        seen.add(id(hint))
                        prepare(self.model.transformer, tuple(latent_shape), self.device, self.dtype, self.warn,
                                self.manager)

    @contextlib.contextmanager
    def session(self):
        """Hold the transformer on the device and the patches applied for a whole sampling run."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.manager.on_device(self.model))
            for patch in self.model.patches:
                apply = getattr(patch, "apply", None)
                if apply is not None:
                    stack.enter_context(apply(self.model.transformer))
            yield self

    def _active(self, conditioning: list, sigma: float, percent: float) -> list:
        active = [c for c in conditioning if _in_range(c[1], percent, self.model, sigma)]
        return active or list(conditioning)  # a range gap falls back to every entry

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma_value = float(sigma)
        percent = sampling_of(self.model).percent_of(sigma_value)
        sides = [(False, self._active(self.positive, sigma_value, percent))]
        if self.negative is not None:
            sides.insert(0, (True, self._active(self.negative, sigma_value, percent)))
        rows = [(is_uncond, entry) for is_uncond, entries in sides for entry in entries]
        whole = [row for row in rows if not is_regional(row[1][1])]
        predictions = dict(zip(map(id, whole), self._predict(x, sigma, sigma_value, percent, whole)))
        by_side: dict[bool, torch.Tensor] = {}
        for is_uncond, _ in sides:
            side_rows = [row for row in rows if row[0] == is_uncond]
            if any(is_regional(entry[1]) for _, entry in side_rows):
                by_side[is_uncond] = self._regional(x, sigma, sigma_value, percent, side_rows, predictions)
                continue
            weighted = [(float(row[1][1].get("strength", 1.0)), predictions[id(row)]) for row in side_rows]
            if len(weighted) == 1:
                by_side[is_uncond] = weighted[0][1]
            else:
                total = sum(w for w, _ in weighted) or 1.0
                by_side[is_uncond] = sum(w * p for w, p in weighted) / total
        cond = by_side[False]
        uncond = by_side[True] if self.negative is not None else None
        guided = cond if uncond is None else uncond + self.cfg * (cond - uncond)
        guides = [p for p in self.model.patches if is_guidance_patch(p)]
        if guides:  # CFGNorm and the like (models/guidance.py)
            guided = _apply_guidance(guides, GuidanceStep(x, sigma_value, cond, uncond, self.cfg, guided))
        return guided

    def _regional(self, x: torch.Tensor, sigma: torch.Tensor, sigma_value: float, percent: float, side_rows: list,
                  predictions: dict) -> torch.Tensor:
        """Areas and masks (``models/sd3/regions.py``): each entry where it applies, weighted."""
        parts = []
        for row in side_rows:
            extras = row[1][1]
            box, weight = region_of(extras, tuple(x.shape))
            if id(row) in predictions:
                parts.append((box, weight, predictions[id(row)][..., box[0]:box[1], box[2]:box[3]]))
                continue
            if _control_hints(extras):
                raise ValueError("a conditioning with an area or mask cannot also carry a ControlNet hint; apply "
                                 "the ControlNet to a conditioning without an area")
            crop = x[..., box[0]:box[1], box[2]:box[3]]
            parts.append((box, weight, self._predict(crop, sigma, sigma_value, percent, [row])[0]))
        return combine(tuple(x.shape), parts)

    def _prepared(self, entry: list, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (id(entry), batch)
        found = self._entry_cache.get(key)
        if found is None:
            found = self._entry_cache[key] = self._entry_tensors(entry, batch)
        return found

    def _entry_tensors(self, entry: list, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings, extras = entry[0], entry[1]
        pooled = extras.get("pooled_output")
        width = self.model.joint_attention_dim
        if embeddings.shape[-1] != width:  # CLIP-only conditioning: zero-pad as diffusers does
            embeddings = _fit_width(embeddings, width)
        pooled_width = int(self.model.transformer.config.pooled_projection_dim)
        pooled = torch.zeros(1, pooled_width) if pooled is None else _fit_width(pooled, pooled_width)
        return _to_batch(embeddings, batch), _to_batch(pooled, batch)

    def _predict(self, x: torch.Tensor, sigma: torch.Tensor, sigma_value: float, percent: float,
                 rows: list) -> list[torch.Tensor]:
        """One velocity per row entry; entries with equal sequence shapes share a forward pass."""
        batch = x.shape[0]
        prepared = [self._prepared(entry, batch) for _, entry in rows]
        groups: dict[tuple, list[int]] = {}
        for index, (embeddings, _) in enumerate(prepared):
            groups.setdefault(tuple(embeddings.shape[1:]), []).append(index)
        results: list[torch.Tensor | None] = [None] * len(rows)
        for indices in groups.values():
            context, pooled = self._group_tensors(rows, indices, prepared)
            model_input = torch.cat([x] * len(indices)) if len(indices) > 1 else x
            model_input = model_input.to(self.device, self.dtype)
            timestep = (sigma * self.model.multiplier).expand(model_input.shape[0]).to(self.device)
            step = DenoiseStep(self.model, self.manager, sigma_value, percent, model_input, timestep, context, pooled,
                               is_uncond=[rows[i][0] for i in indices for _ in range(batch)],
                               extras=[rows[i][1][1] for i in indices for _ in range(batch)])
            output = self._forward(step, [rows[i][1][1] for i in indices], batch)
            for position, index in enumerate(indices):
                results[index] = output[position * batch:(position + 1) * batch].to(x.device, torch.float32)
        return results  # type: ignore[return-value]

    def _group_tensors(self, rows: list, indices: list[int], prepared: list) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched context and pooled tensors on the device, built once per set of entries."""
        key = tuple(id(rows[i][1]) for i in indices) + (prepared[indices[0]][0].shape[0],)
        cached = self._group_cache.get(key)
        if cached is None:
            context = torch.cat([prepared[i][0] for i in indices]).to(self.device, self.dtype)
            pooled = torch.cat([prepared[i][1] for i in indices]).to(self.device, self.dtype)
            cached = self._group_cache[key] = (context, pooled)
        return cached

    def _forward(self, step: DenoiseStep, extras_per_entry: list[dict], batch: int) -> torch.Tensor:
        residuals = self._control_residuals(step, extras_per_entry, batch)
        attention_kwargs: dict = {}
        for patch in self.model.patches:
            provider = getattr(patch, "joint_attention_kwargs", None)
            if provider is not None:
                attention_kwargs.update(provider(step) or {})
        with torch.inference_mode():
            return self.model.transformer(
                hidden_states=step.x, timestep=step.timestep, encoder_hidden_states=step.encoder_hidden_states,
                pooled_projections=step.pooled_projections, block_controlnet_hidden_states=residuals,
                joint_attention_kwargs=attention_kwargs or None, return_dict=False)[0]

    def _control_residuals(self, step: DenoiseStep, extras_per_entry: list[dict], batch: int):
        hint_lists = [_control_hints(extras) for extras in extras_per_entry]
        first = hint_lists[0]
        if all(len(h) == len(first) and all(a is b for a, b in zip(h, first)) for h in hint_lists[1:]):
            # Every entry carries the same hints (ControlNetApply on positive and negative): one
            # ControlNet call for the whole CFG batch, as diffusers makes.
            return self._summed_residuals(step, first)
        per_entry: list[list[torch.Tensor] | None] = []
        for index, extras in enumerate(extras_per_entry):
            rows = slice(index * batch, (index + 1) * batch)
            sub = DenoiseStep(step.model, step.manager, step.sigma, step.percent, step.x[rows], step.timestep[rows],
                              step.encoder_hidden_states[rows], step.pooled_projections[rows],
                              step.is_uncond[rows], step.extras[rows])
            per_entry.append(self._summed_residuals(sub, _control_hints(extras)))
        present = [r for r in per_entry if r is not None]
        if not present:
            return None
        template = present[0]
        filled = [r if r is not None else [torch.zeros_like(t) for t in template] for r in per_entry]
        return [torch.cat([entry[block] for entry in filled]) for block in range(len(template))]

    @staticmethod
    def _summed_residuals(step: DenoiseStep, hints: list):
        summed = None
        for hint in hints:
            if not _in_range(hint, step.percent, step.model, step.sigma):
                continue
            blocks = hint.residuals(step)
            if blocks is None:
                continue
            summed = list(blocks) if summed is None else [a + b for a, b in zip(summed, blocks)]
        return summed


def _apply_guidance(patches: list, step: GuidanceStep) -> torch.Tensor:
    """ComfyUI's order: the last ``cfg_function`` replaces the CFG combination, then every
    ``post_cfg_function`` in turn."""
    combiners = [p for p in patches if hasattr(p, "cfg_function")]
    if combiners and step.uncond is not None:
        step = dataclasses.replace(step, guided=combiners[-1].cfg_function(step))
    for patch in patches:
        if hasattr(patch, "post_cfg_function"):
            step = dataclasses.replace(step, guided=patch.post_cfg_function(step))
    return step.guided


def _to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    if tensor.shape[0] == batch:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.expand(batch, *tensor.shape[1:])
    repeats = -(-batch // tensor.shape[0])
    return tensor.repeat(repeats, *([1] * (tensor.dim() - 1)))[:batch]


def _fit_width(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad (or, for mismatched partial encoders, cut) the last dimension to ``width``."""
    if tensor.shape[-1] >= width:
        return tensor[..., :width]
    return torch.nn.functional.pad(tensor, (0, width - tensor.shape[-1]))


def compute_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype a module computes in: its first non-fp8 parameter's (fp8 weights are upcast)."""
    for parameter in module.parameters():
        if parameter.dtype.is_floating_point and parameter.element_size() > 1:
            return parameter.dtype
    return torch.float32
