"""Built-in nodes, one module per domain.

Rule for every module here: no torch/diffusers/transformers import at module level. The server
registers all nodes at start-up and must answer ``/object_info`` before any framework is loaded;
import heavy libraries inside the node functions (or from ``models/`` there).
"""
from __future__ import annotations

import importlib

from execution.declare import schemas_in
from execution.registry import NodeRegistry

BUILTIN_MODULES = (
    "nodes.primitives",
    "nodes.image",
    "nodes.latent",
    "nodes.mask",
    "nodes.loaders",
    "nodes.conditioning",
    "nodes.sampling",
    "nodes.vae",
    "nodes.clip_vision",
    "nodes.clip_score",
    "nodes.vlm",
    "nodes.retrieval",
    "nodes.text",
    "nodes.dataset",
    "nodes.controlnet",
    "nodes.preprocessors",
    "nodes.ip_adapter",
)


def register_builtin_nodes(registry: NodeRegistry) -> None:
    for module_name in BUILTIN_MODULES:
        registry.add_all(schemas_in(importlib.import_module(module_name)), builtin=True)
