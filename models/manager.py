"""The model manager: device and dtype choice, lazy cached loading, on-use device placement,
least-recently-used offload over a memory budget, and recovery from out-of-memory errors.

One instance lives in ``Services.models`` (created lazily); nothing here is global.

Usage from a node::

    manager = ctx.services.models
    model = manager.get_or_load(f"sd3:{path}:{mtime}", lambda: load_it(path))
    with manager.on_device(model.transformer):
        ...  # compute; weights are on manager.device

An out-of-memory error raised inside ``get_or_load`` or ``on_device`` frees every model and is
re-raised as :class:`ModelOutOfMemoryError`, a plain ``RuntimeError`` with a clear message, so the
runner reports it as an error on that node and the server keeps running.
"""
from __future__ import annotations

import gc
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch


class ModelOutOfMemoryError(RuntimeError):
    """The device ran out of memory; every model was unloaded before this was raised."""


def pick_device(force_cpu: bool = False) -> torch.device:
    if force_cpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def torch_modules(value: Any) -> list[torch.nn.Module]:
    """The ``nn.Module``s inside a value: a module, a wrapper exposing ``torch_modules()``,
    or a list/tuple/dict of those. ``None`` entries are skipped."""
    if value is None:
        return []
    if isinstance(value, torch.nn.Module):
        return [value]
    provider = getattr(value, "torch_modules", None)
    if callable(provider):
        return [m for m in provider() if m is not None]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        found: list[torch.nn.Module] = []
        for item in value:
            found.extend(torch_modules(item))
        return found
    return []


def module_bytes(module: torch.nn.Module) -> int:
    total = sum(p.numel() * p.element_size() for p in module.parameters())
    return total + sum(b.numel() * b.element_size() for b in module.buffers())


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


@dataclass
class _Entry:
    value: Any
    loaded_at: float = field(default_factory=time.monotonic)


def _is_oom(error: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


class ModelManager:
    def __init__(self, force_cpu: bool = False, vram_budget_gb: float | None = None):
        self.device: torch.device = pick_device(force_cpu)
        self.dtype: torch.dtype = pick_dtype(self.device)
        self.offload_device = torch.device("cpu")
        self.vram_budget_bytes: int | None = (
            int(vram_budget_gb * 1024 ** 3) if vram_budget_gb is not None else None)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Modules currently on the compute device, least recently used first (id -> weakref).
        self._resident: OrderedDict[int, weakref.ReferenceType] = OrderedDict()
        self._lock = threading.RLock()

    # -- loading ------------------------------------------------------------------------------
    def get_or_load(self, key: str, loader: Callable[[], Any]) -> Any:
        """The value cached under ``key``; calls ``loader()`` once on a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.value
        try:
            value = loader()
        except BaseException as error:
            if _is_oom(error):
                self._raise_oom(error, f"loading {key}")
            raise
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None:  # another thread won the race; keep one copy
                return existing.value
            self._entries[key] = _Entry(value)
        return value

    def is_loaded(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    # -- placement ----------------------------------------------------------------------------
    @contextmanager
    def on_device(self, *values: Any) -> Iterator[torch.device]:
        """Move the modules in ``values`` to the compute device for the block, mark them most
        recently used and offload least-recently-used ones while over the budget."""
        modules = [m for v in values for m in torch_modules(v)]
        try:
            with self._lock:
                for module in modules:
                    self._place(module)
                self._enforce_budget(keep={id(m) for m in modules})
            yield self.device
        except BaseException as error:
            if _is_oom(error):
                self._raise_oom(error, "running a model")
            raise

    def _place(self, module: torch.nn.Module) -> None:
        if self.device == self.offload_device:
            return  # computing where the weights live (CPU): nothing to move or track
        key = id(module)
        current = _module_device(module)
        if current.type != self.device.type or (self.device.index is not None and current.index != self.device.index):
            module.to(self.device)
        self._resident[key] = weakref.ref(module)
        self._resident.move_to_end(key)

    def _enforce_budget(self, keep: set[int]) -> None:
        if self.vram_budget_bytes is None or self.device == self.offload_device:
            return
        while self._resident_bytes() > self.vram_budget_bytes:
            victim_key = next((k for k in self._resident if k not in keep), None)
            if victim_key is None:
                return  # only the modules in use remain; nothing else to offload
            module = self._resident.pop(victim_key)()
            if module is not None:
                module.to(self.offload_device)

    def _resident_bytes(self) -> int:
        total = 0
        for key, ref in list(self._resident.items()):
            module = ref()
            if module is None:
                del self._resident[key]
            else:
                total += module_bytes(module)
        return total

    # -- freeing ------------------------------------------------------------------------------
    def free(self) -> None:
        """Unload everything (``/free``, or after an out-of-memory error)."""
        with self._lock:
            for ref in self._resident.values():
                module = ref()
                if module is not None:
                    try:
                        module.to(self.offload_device)
                    except Exception:  # noqa: BLE001 - freeing must not fail
                        pass
            self._resident.clear()
            self._entries.clear()
        gc.collect()
        self.empty_device_cache()

    def empty_device_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            torch.mps.empty_cache()

    def _raise_oom(self, error: BaseException, doing: str) -> None:
        self.free()
        raise ModelOutOfMemoryError(
            f"Out of memory on {self.device} while {doing}. All models were unloaded; try a smaller "
            f"image or batch, fewer models at once, --vram-budget, or --cpu. ({error})") from error

    # -- introspection ------------------------------------------------------------------------
    def loaded_models(self) -> list[dict]:
        """Name, device and bytes of every cached model (for ``/system_stats``)."""
        with self._lock:
            entries = list(self._entries.items())
        report = []
        for key, entry in entries:
            modules = torch_modules(entry.value)
            devices = sorted({str(_module_device(m)) for m in modules}) or ["cpu"]
            report.append({"name": key, "device": ",".join(devices),
                           "bytes": sum(module_bytes(m) for m in modules)})
        return report
