"""The one place where ComfyUI's host modules keep their state: the live Plexus host.

ComfyUI's host modules (``folder_paths``, ``server``, ``comfy.*``) are module-level APIs, so the
compatibility layer needs a module-level reference to the running Plexus. The plugin loader sets it
with :func:`install`; every compat module reads it through :func:`host`. Inside a running node,
``execution.context.current_node`` gives the node's own services, progress and interrupt flag.
"""
from __future__ import annotations

import importlib
import sys
import threading
from collections import OrderedDict
from typing import Any

from execution.context import current_node  # noqa: F401 - re-exported for the compat modules

# Every compat module, imported eagerly at install so that packs importing them lazily inside
# their node functions find them in sys.modules at run time.
COMPAT_MODULES = (
    "folder_paths", "server", "comfy", "comfy.utils", "comfy.model_management", "comfy.comfy_types",
    "comfy.comfy_types.node_typing", "comfy.samplers", "comfy_execution", "comfy_execution.graph",
    "comfy_execution.graph_utils", "_comfy_nodes", "_frontend",
)

_host: Any = None
_lock = threading.Lock()
_graph_indexes: OrderedDict[tuple, int] = OrderedDict()  # GraphBuilder prefixes per node call
_MAX_GRAPH_KEYS = 4096
# Extension filters that packs registered per model kind (folder_paths.folder_names_and_paths).
folder_extensions: dict[str, set[str]] = {}
# V1-style wrapper classes of registered nodes (nodes.SaveImage...), by name: (schema, class).
node_wrappers: dict[str, tuple[Any, type]] = {}


class NotBound(RuntimeError):
    """A host module was used before the plugin loader bound it to a running Plexus."""


def install(plugin_host: Any) -> None:
    """Bind every host module to ``plugin_host`` (an ``execution.plugins.host.PluginHost``)."""
    global _host
    with _lock:
        _host = plugin_host
        _graph_indexes.clear()
        folder_extensions.clear()
        node_wrappers.clear()
    for name in COMPAT_MODULES:
        importlib.import_module(name)
    sys.modules["_comfy_nodes"].graft_onto_nodes_package()
    sys.modules["folder_paths"].register_comfy_folders()
    sys.modules["_frontend"].add_routes(plugin_host.routes)


def host() -> Any:
    if _host is None:
        raise NotBound("ComfyUI host modules are only available to custom nodes loaded by Plexus")
    return _host


def services() -> Any:
    """The running node's services, else those of the loader."""
    return host().current_services


def next_graph_index(key: tuple) -> int:
    """0, 1, 2... for each GraphBuilder created during one node call (``key``)."""
    with _lock:
        index = _graph_indexes.get(key, -1) + 1
        _graph_indexes[key] = index
        _graph_indexes.move_to_end(key)
        while len(_graph_indexes) > _MAX_GRAPH_KEYS:
            _graph_indexes.popitem(last=False)
    return index
