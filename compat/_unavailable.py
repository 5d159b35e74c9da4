"""The one error for ComfyUI names that Plexus cannot back, and the placeholders that raise it.

Packs import ComfyUI-internal names (model classes, ``comfy.ldm`` modules, k-diffusion samplers)
at module level, often only to use them in one node. Importing such a name works in Plexus; using
it raises :class:`NotAvailableInPlexus`, which names the function and says why. A placeholder is
a class, so a pack may also subclass it at import time; creating an instance raises.

ComfyUI's internal packages (``comfy.ldm.*``, ``comfy.k_diffusion.*``...) hold hundreds of names
and deep submodules. :class:`InternalModuleFinder` answers every submodule of the prefixes in
``INTERNAL_MODULES`` that ``compat/`` has no file for, with a module whose every public name is
such a placeholder. Names Plexus does back live in real files next to this one.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Callable

# ComfyUI-internal modules: whatever ``compat/`` has no file or name for raises when used.
INTERNAL_MODULES = (
    "comfy.ldm", "comfy.k_diffusion", "comfy.model_base", "comfy.model_patcher", "comfy.diffusers_convert",
    "comfy.model_detection", "comfy.supported_models", "comfy.supported_models_base", "comfy.sd1_clip",
    "comfy.sdxl_clip", "comfy.text_encoders", "comfy.ops", "comfy.lora", "comfy.hooks", "comfy.patcher_extension",
    "comfy.weight_adapter", "comfy.cldm", "comfy.t2i_adapter", "comfy.gligen", "comfy.taesd", "comfy.extra_samplers",
    "comfy.model_sampling", "comfy_extras.chainner_models",
)


class NotAvailableInPlexus(NotImplementedError):
    """A ComfyUI name that Plexus provides for import only: its ComfyUI implementation works on
    ComfyUI's own model classes, which Plexus does not have."""

    def __init__(self, name: str, reason: str = ""):
        self.name = name
        why = reason or "a ComfyUI-internal API that Plexus's compatibility layer does not implement"
        super().__init__(f"{name} is not available in Plexus: {why} (see custom_nodes/README.md)")


class _Placeholder(type):
    """Placeholders' attributes are placeholders too: ``from pkg import submodule`` may give a
    placeholder where ComfyUI has a module, and ``submodule.function`` must still import."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__") or "_plexus_unavailable" not in vars(cls):
            raise AttributeError(name)
        return unavailable(f"{cls._plexus_unavailable}.{name}", cls._plexus_reason)


def unavailable(qualified_name: str, reason: str = "") -> type:
    """A placeholder class named after ``qualified_name``: importable and subclassable; calling
    it (creating an instance) raises :class:`NotAvailableInPlexus`."""
    module, _, name = qualified_name.rpartition(".")

    def __new__(cls, *_args: Any, **_kwargs: Any) -> Any:
        raise NotAvailableInPlexus(qualified_name, reason)

    return _Placeholder(name, (), {"__new__": __new__, "__module__": module, "__qualname__": name,
                                   "__doc__": f"Not available in Plexus: {qualified_name}. {reason}".strip(),
                                   "_plexus_unavailable": qualified_name, "_plexus_reason": reason})


def is_unavailable(value: Any) -> bool:
    return isinstance(value, type) and "_plexus_unavailable" in vars(value)


def placeholder_getattr(module_name: str, reason: str = "") -> Callable[[str], Any]:
    """A module ``__getattr__`` that answers every public name with a cached placeholder."""
    made: dict[str, type] = {}

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        if name not in made:
            made[name] = unavailable(f"{module_name}.{name}", reason)
        return made[name]

    return __getattr__


def is_internal(fullname: str) -> bool:
    return any(fullname == prefix or fullname.startswith(prefix + ".") for prefix in INTERNAL_MODULES)


class InternalModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Placeholder modules for ComfyUI-internal submodules that ``compat/`` has no file for.
    It sits last on ``sys.meta_path``, so the real compat files always win."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not is_internal(fullname):
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: Any) -> types.ModuleType:
        module = types.ModuleType(spec.name, f"ComfyUI's {spec.name}: not available in Plexus (import only)")
        module.__path__ = []  # a package, so deeper submodules import too
        module.__getattr__ = placeholder_getattr(spec.name)  # type: ignore[attr-defined]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install_finder() -> None:
    if not any(isinstance(finder, InternalModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(InternalModuleFinder())
