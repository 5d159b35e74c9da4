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
from pathlib import Path
from typing import Any

from execution.context import current_node  # noqa: F401 - re-exported for the compat modules

# Every compat module, imported eagerly at install so that packs importing them lazily inside
# their node functions find them in sys.modules at run time.
COMPAT_MODULES = (
    "_unavailable", "folder_paths", "server", "comfy", "comfy.utils", "comfy.model_management", "comfy.comfy_types",
    "comfy.comfy_types.node_typing", "comfy.samplers", "comfy.sample", "comfy.sampler_helpers", "comfy.sd",
    "comfy.cli_args", "comfy.clip_vision", "comfy.controlnet", "comfy.latent_formats", "comfy.ldm",
    "comfy.ldm.modules", "comfy.ldm.modules.attention", "comfy.k_diffusion", "comfy.k_diffusion.sampling",
    "comfy_execution", "comfy_execution.graph", "comfy_execution.graph_utils", "comfy_extras",
    "comfy_extras.nodes_custom_sampler", "comfy_extras.nodes_mask", "comfy_extras.nodes_upscale_model",
    "node_helpers", "latent_preview", "_prompt_queue", "_comfy_execution", "_comfy_nodes", "_frontend",
)
# Modules whose ``__file__`` packs use to find "the ComfyUI folder" (to write web extensions or
# data next to it): they point into the user directory, never into Plexus's source tree.
ROOT_LOCATING_MODULES = ("folder_paths", "server")
COMFY_ROOT_NAME = "comfyui_root"

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
    sys.modules["_unavailable"].install_finder()
    _point_root_locating_modules_at(comfy_root())
    sys.modules["_comfy_nodes"].graft_onto_nodes_package()
    sys.modules["_comfy_execution"].graft_onto_execution_package()
    sys.modules["folder_paths"].register_comfy_folders()
    sys.modules["_frontend"].add_routes(plugin_host.server)


def host() -> Any:
    if _host is None:
        raise NotBound("ComfyUI host modules are only available to custom nodes loaded by Plexus")
    return _host


def comfy_root() -> Path:
    """What packs see as the ComfyUI folder: ``<user directory>/comfyui_root`` (with ``web/extensions``)."""
    root = Path(host().services.paths.user_dir) / COMFY_ROOT_NAME
    try:
        (root / "web" / "extensions").mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only user directory: packs that write there fail on their own
        pass
    return root


def _point_root_locating_modules_at(root: Path) -> None:
    for name in ROOT_LOCATING_MODULES:
        module = sys.modules[name]
        module.__file__ = str(root / f"{name}.py")


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
