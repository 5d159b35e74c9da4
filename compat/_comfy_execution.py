"""ComfyUI's ``execution`` module names, grafted onto Plexus's own ``execution`` package.

Plexus's executor package is called ``execution`` too and is imported first, so ``import
execution`` in a pack gives Plexus's package. The loader gives that package a module
``__getattr__`` (PEP 562) answering ComfyUI's names, and nothing else:

- ``PromptQueue``: the class of ``PromptServer.instance.prompt_queue``, a view of Plexus's durable
  queue (real);
- ``ExecutionResult``, ``full_type_name`` (real);
- ``PromptExecutor``, ``validate_prompt``, ``validate_inputs``, ``get_input_data``,
  ``get_output_data``, ``IsChangedCache``, ``CacheSet``... : ComfyUI's executor internals;
  importable (packs patch them), raising :class:`NotAvailableInPlexus` when called.
"""
from __future__ import annotations

import enum
import importlib
import sys
from typing import Any

from _prompt_queue import PromptQueue
from _unavailable import unavailable


class ExecutionResult(enum.Enum):
    SUCCESS = 0
    FAILURE = 1
    PENDING = 2


def full_type_name(klass: type) -> str:
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


_REASON = "Plexus's executor is its own (execution/runner.py); ComfyUI's executor internals are not present"
INTERNAL_NAMES = ("PromptExecutor", "validate_prompt", "validate_inputs", "validate_node_input", "get_input_data",
                  "get_output_data", "get_outputs_summary", "execute", "IsChangedCache", "CacheSet", "CacheType",
                  "DuplicateNodeError", "format_value", "merge_result_data", "_async_map_node_over_list",
                  "_map_node_over_list", "get_output_from_returns")
COMFY_NAMES: dict[str, Any] = {"PromptQueue": PromptQueue, "ExecutionResult": ExecutionResult,
                               "full_type_name": full_type_name,
                               **{name: unavailable(f"execution.{name}", _REASON) for name in INTERNAL_NAMES}}


def graft_onto_execution_package() -> None:
    """Give Plexus's ``execution`` package ComfyUI's names (once; keeps any ``__getattr__`` it had)."""
    package = sys.modules.get("execution") or importlib.import_module("execution")
    previous = package.__dict__.get("__getattr__")
    if getattr(previous, "_plexus_comfy_names", False):
        return

    def __getattr__(name: str) -> Any:
        if previous is not None:
            try:
                return previous(name)
            except AttributeError:
                pass
        if name in COMFY_NAMES:
            return COMFY_NAMES[name]
        raise AttributeError(f"module 'execution' has no attribute {name!r}")

    __getattr__._plexus_comfy_names = True  # type: ignore[attr-defined]
    package.__getattr__ = __getattr__  # type: ignore[attr-defined]
