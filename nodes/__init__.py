"""Built-in nodes, one subpackage per domain (``basics``, ``image``, ``generation``, ``control``,
``understanding``, ...), one module per group of related nodes.

Registration is automatic: every module below this package is imported and its ``@node``
declarations are collected. Rule for every module here: no torch/diffusers/transformers import at
module level. The server registers all nodes at start-up and must answer ``/object_info`` before any
framework is loaded; import heavy libraries inside the node functions (or from ``models/`` there).
"""
from __future__ import annotations

import importlib
import pkgutil

from execution.declare import schemas_in
from execution.registry import NodeRegistry


def builtin_node_modules() -> list[str]:
    """Every module below ``nodes``, sorted so that registration order is stable."""
    return sorted(info.name for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}.")
                  if not info.ispkg)


def register_builtin_nodes(registry: NodeRegistry) -> None:
    """Every built-in node, and the old names of renamed nodes (a module's ``NODE_ALIASES``)."""
    for module_name in builtin_node_modules():
        module = importlib.import_module(module_name)
        registry.add_all(schemas_in(module), builtin=True)
        for old_name, new_name in getattr(module, "NODE_ALIASES", {}).items():
            registry.add_alias(old_name, new_name)
