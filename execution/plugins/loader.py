"""The custom-node loader: ComfyUI V1 packs as they are, and Plexus-native packs.

``load_custom_nodes(registry, dirs, services=..., whitelist=..., server=...)`` scans each folder in
``dirs`` in order. Every ``*.py`` file and every folder with an ``__init__.py`` is a *pack*;
names ending in ``.disabled``, hidden names and ``__pycache__`` are skipped. Each pack is
imported under its own module name (``plexus_pack_<name>``), after every pack's
``prestartup_script.py`` has run. What a pack may export:

- ``NODE_CLASS_MAPPINGS`` / ``NODE_DISPLAY_NAME_MAPPINGS``: V1 classes (``execution.plugins.comfy_v1``);
- ``WEB_DIRECTORY``: a folder of editor extensions, served at ``/extensions/<pack>/``;
- ``comfy_entrypoint()`` (sync or async, ignored when ``NODE_CLASS_MAPPINGS`` exists): a
  ``ComfyExtension`` whose ``get_node_list()`` returns V3 classes (``execution.plugins.comfy_v3``),
  V1 classes or Plexus-declared functions;
- Plexus-native nodes declared with ``execution.declare.node``: the list ``PLEXUS_NODES`` if the
  pack defines it, else every decorated function defined in the pack's own modules;
- ``plexus_setup(host)``: called once with the :class:`~execution.plugins.host.PluginHost`
  (``host.routes`` for HTTP routes, ``host.services``, ``host.send``).

A pack that fails (import error, syntax error, a mapping that is not a dict) is logged with its
traceback and contributes no nodes; the others still load. One broken class (no ``FUNCTION``, an
``INPUT_TYPES`` that raises) is left out and reported in the pack's ``node_errors``; the rest of
its pack registers. A pack whose import takes longer than ``import_timeout`` seconds
(``--custom-node-import-timeout``, default 120; 0: no limit) is reported as failed and skipped; its
import thread is left behind (Python cannot stop it). Built-in node names
cannot be replaced: such nodes are refused and listed in the pack's ``clashes``.

While packs import, ``compat/`` (ComfyUI's host modules: ``folder_paths``, ``comfy.*``, ``server``,
``comfy_execution.*``, and ComfyUI's names on the ``nodes`` package) is on ``sys.path`` and bound
to the live registry, services and server (it also adds ``/scripts/app.js`` and ``/scripts/api.js``
to the server's plugin routes, for ComfyUI-style web extensions). The host modules stay in ``sys.modules`` afterwards,
so packs that import them lazily inside their node functions find them at run time.

The report (:class:`PluginReport`) is what the server shows: ``GET /custom_nodes`` is
``report.to_json()``; ``GET /extensions`` lists ``report.extension_urls()``; ``/extensions/<pack>/``
serves ``report.web_directories()[pack]``.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import re
import runpy
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from execution.async_bridge import run_blocking
from execution.plugins.comfy_v1 import schema_from_v1
from execution.plugins.comfy_v3 import is_v3_class, schema_from_v3
from execution.declare import NODE_SCHEMA_ATTR
from execution.plugins.host import OfflineServer, PluginHost, with_hook_services
from execution.plugins.time_limit import PackImportTimeout, run_with_time_limit
from execution.registry import NodeNameClash, NodeRegistry
from execution.schema import NodeSchema

log = logging.getLogger("plexus.plugins")

COMPAT_DIR = Path(__file__).resolve().parents[2] / "compat"
MODULE_PREFIX = "plexus_pack_"
DEFAULT_IMPORT_TIMEOUT = 120.0
WEB_SUFFIXES = (".js", ".mjs")


@dataclass
class PackStatus:
    """One pack's outcome, as ``GET /custom_nodes`` shows it."""

    name: str
    path: Path
    loaded: bool = False
    error: str | None = None  # the traceback of a failure, or why the pack was skipped
    nodes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    web_dir: Path | None = None
    skipped: bool = False  # not loaded on purpose (whitelist, duplicate name)
    kind: str = ""  # "v1", "plexus", "v3" or a combination such as "v1+plexus"
    module: str = ""
    display_names: dict[str, str] = field(default_factory=dict)
    clashes: list[str] = field(default_factory=list)  # refused node names (built-ins)
    node_errors: dict[str, str] = field(default_factory=dict)  # broken classes left out, and why
    prestartup_error: str | None = None

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("loaded" if self.loaded else "failed")

    def to_json(self) -> dict:
        return {"name": self.name, "path": str(self.path), "loaded": self.loaded, "status": self.status,
                "error": self.error, "nodes": list(self.nodes), "seconds": round(self.seconds, 4),
                "web_directory": str(self.web_dir) if self.web_dir else None, "kind": self.kind,
                "module": self.module, "display_names": dict(self.display_names),
                "clashes": list(self.clashes), "node_errors": dict(self.node_errors),
                "prestartup_error": self.prestartup_error}


@dataclass
class PluginReport:
    packs: list[PackStatus] = field(default_factory=list)
    host: PluginHost | None = None

    @property
    def loaded(self) -> list[PackStatus]:
        return [p for p in self.packs if p.loaded]

    @property
    def failed(self) -> list[PackStatus]:
        return [p for p in self.packs if not p.loaded and not p.skipped]

    def pack(self, name: str) -> PackStatus | None:
        return next((p for p in self.packs if p.name == name), None)

    def to_json(self) -> list[dict]:
        return [p.to_json() for p in self.packs]

    def web_directories(self) -> dict[str, Path]:
        """Pack name -> its ``WEB_DIRECTORY`` (loaded packs only), plus the folders packs added to
        ``nodes.EXTENSION_WEB_DIRS`` themselves."""
        folders = {p.name: p.web_dir for p in self.packs if p.loaded and p.web_dir is not None}
        for name, folder in (self.host.extension_web_dirs.items() if self.host is not None else ()):
            if name not in folders and Path(folder).is_dir():
                folders[name] = Path(folder).resolve()
        return folders

    def extension_urls(self) -> list[str]:
        """``/extensions/<pack>/<file>.js`` for every script of every web directory."""
        urls: list[str] = []
        for name, folder in self.web_directories().items():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix in WEB_SUFFIXES:
                    relative = path.relative_to(folder).as_posix()
                    urls.append(f"/extensions/{quote(name)}/{quote(relative)}")
        return urls


# -- discovery ----------------------------------------------------------------------------------
def discover_packs(dirs: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """``(name, path)`` of every pack entry, folder by folder, sorted by name within a folder."""
    found: list[tuple[str, Path]] = []
    seen_dirs: set[Path] = set()
    for folder in dirs:
        folder = Path(folder)
        try:
            resolved = folder.resolve()
        except OSError:
            continue
        if resolved in seen_dirs:
            continue
        if not folder.is_dir():
            log.warning("custom nodes folder %s does not exist; no packs loaded from it", folder)
            continue
        seen_dirs.add(resolved)
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            name = entry.name
            if name.startswith((".", "__")) or name.endswith(".disabled"):
                continue
            if entry.is_dir() and (entry / "__init__.py").is_file():
                found.append((name, entry))
            elif entry.is_file() and entry.suffix == ".py":
                found.append((entry.stem, entry))
    return found


def _in_whitelist(name: str, whitelist: list[str] | None) -> bool:
    if whitelist is None:
        return True
    wanted = {w.rstrip("/").removesuffix(".py") for w in whitelist}
    return name in wanted


# -- the compatibility layer --------------------------------------------------------------------
_path_lock = threading.Lock()


@contextmanager
def compat_on_path() -> Iterator[None]:
    """``compat/`` first on ``sys.path`` for the duration (ComfyUI's host module names)."""
    entry = str(COMPAT_DIR)
    with _path_lock:
        added = entry not in sys.path
        if added:
            sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with _path_lock:
                try:
                    sys.path.remove(entry)
                except ValueError:
                    pass


def install_compat(host: PluginHost) -> None:
    """Bind the host modules to ``host`` and import them (call inside :func:`compat_on_path`)."""
    try:
        importlib.import_module("_plexus_binding").install(host)
    except Exception:  # packs that need no host module still load
        log.exception("the host-module compatibility layer failed to install")


# -- importing one pack ---------------------------------------------------------------------------
def _module_name(name: str, taken: set[str]) -> str:
    base = MODULE_PREFIX + (re.sub(r"\W", "_", name) or "pack")
    candidate, counter = base, 2
    while candidate in taken:
        candidate, counter = f"{base}_{counter}", counter + 1
    taken.add(candidate)
    return candidate


def _import_pack(module_name: str, path: Path) -> Any:
    for stale in [m for m in sys.modules if m == module_name or m.startswith(module_name + ".")]:
        del sys.modules[stale]  # a reload (tests, a second registry) re-executes the pack
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(module_name, path / "__init__.py",
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _resolve(value: Any) -> Any:
    """The value of a possibly-async call, even when a loop is already running in this thread."""
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    return run_blocking(wait)


def _native_schema(fn: Any, pack: PackStatus, display_names: Mapping) -> NodeSchema:
    schema: NodeSchema = getattr(fn, NODE_SCHEMA_ATTR)
    schema.python_module = f"custom_nodes.{pack.name}"
    if schema.name in display_names:
        schema.display_name = str(display_names[schema.name])
    return schema


def _v1_schema(name: Any, cls: Any, pack: PackStatus, display_names: Mapping) -> NodeSchema:
    if not isinstance(name, str) or not name:
        raise TypeError(f"NODE_CLASS_MAPPINGS key {name!r} is not a node name")
    if hasattr(cls, NODE_SCHEMA_ATTR):
        schema = _native_schema(cls, pack, display_names)
        schema.name = name
        return schema
    if not isinstance(cls, type):
        raise TypeError(f"NODE_CLASS_MAPPINGS[{name!r}] is {cls!r}, not a node class")
    if is_v3_class(cls):  # V3 classes listed in a V1 mapping (KJNodes, Easy-Use mix them)
        schema = schema_from_v3(cls, python_module=f"custom_nodes.{pack.name}")
        schema.name = name
        if name in display_names:
            schema.display_name = str(display_names[name])
        return schema
    if not callable(getattr(cls, "INPUT_TYPES", None)):
        raise TypeError(f"{name}: {cls.__name__} has no INPUT_TYPES classmethod")
    display = display_names.get(name)
    return schema_from_v1(name, cls, display_name=str(display) if display else None,
                          python_module=f"custom_nodes.{pack.name}")


def _entrypoint_schemas(module: Any, pack: PackStatus, display_names: Mapping) -> list[NodeSchema]:
    """ComfyUI's V3 entry point: ``comfy_entrypoint() -> ComfyExtension``; ``on_load()`` is awaited,
    then ``get_node_list()``, whose V3 classes register under their ``schema.node_id``."""
    extension = _resolve(module.comfy_entrypoint())
    if not callable(getattr(extension, "get_node_list", None)):
        raise TypeError(f"comfy_entrypoint() returned {extension!r}, not a ComfyExtension")
    if callable(getattr(extension, "on_load", None)):
        _resolve(extension.on_load())
    items = _resolve(extension.get_node_list())
    if not isinstance(items, list):
        raise TypeError(f"get_node_list() returned a {type(items).__name__}, not a list")
    schemas = []
    for item in items:
        label = getattr(item, "__name__", repr(item))
        schema = _checked(pack, label, lambda: _listed_schema(item, pack, display_names))
        if schema is not None:
            schemas.append(schema)
    return schemas


def _listed_schema(item: Any, pack: PackStatus, display_names: Mapping) -> NodeSchema:
    if hasattr(item, NODE_SCHEMA_ATTR):
        return _native_schema(item, pack, display_names)
    if is_v3_class(item):
        return schema_from_v3(item, python_module=f"custom_nodes.{pack.name}")
    name = getattr(item, "NODE_NAME", None) or getattr(item, "__name__", None)
    return _v1_schema(name, item, pack, display_names)


def pack_schemas(module: Any, pack: PackStatus) -> list[NodeSchema]:
    """Every node a pack exports, checked (``INPUT_TYPES`` must work). Raises on a bad mapping."""
    display_names = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None) or {}
    if not isinstance(display_names, Mapping):
        raise TypeError(f"NODE_DISPLAY_NAME_MAPPINGS is a {type(display_names).__name__}, not a dict")
    kinds: list[str] = []
    schemas: list[NodeSchema] = []
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if mappings is not None:
        if not isinstance(mappings, Mapping):
            raise TypeError(f"NODE_CLASS_MAPPINGS is a {type(mappings).__name__}, not a dict")
        for name, cls in mappings.items():
            schema = _checked(pack, name, lambda: _v1_schema(name, cls, pack, display_names))
            if schema is not None:
                schemas.append(schema)
        kinds.append("v1")
    native = getattr(module, "PLEXUS_NODES", None)
    if native is None:
        own = module.__name__
        native = [obj for obj in vars(module).values() if hasattr(obj, NODE_SCHEMA_ATTR)
                  and str(getattr(obj, "__module__", "")).split(".")[0] == own.split(".")[0]
                  and obj not in (mappings or {}).values()]
    else:
        missing = [fn for fn in native if not hasattr(fn, NODE_SCHEMA_ATTR)]
        if missing:
            raise TypeError(f"PLEXUS_NODES holds {missing[0]!r}, which is not declared with execution.declare.node")
    if native:
        schemas.extend(_native_schema(fn, pack, display_names) for fn in native)
        kinds.append("plexus")
    if mappings is None and callable(getattr(module, "comfy_entrypoint", None)):  # as in ComfyUI, V1 wins
        schemas.extend(_entrypoint_schemas(module, pack, display_names))
        kinds.append("v3")
    pack.kind = "+".join(kinds)
    return [schema for schema in schemas if _checked(pack, schema.name, lambda: _inputs_work(schema))]


def _inputs_work(schema: NodeSchema) -> NodeSchema:
    try:
        schema.inputs(fresh=True)
    except Exception as exc:
        raise TypeError(f"{schema.name}: INPUT_TYPES failed: {type(exc).__name__}: {exc}") from exc
    return schema


def _checked(pack: PackStatus, name: Any, build: Any) -> NodeSchema | None:
    """One class of a pack: a broken one (no FUNCTION, INPUT_TYPES raising) is reported in
    ``pack.node_errors`` and left out; the rest of the pack still registers."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001
        pack.node_errors[str(name)] = f"{type(exc).__name__}: {exc}"
        log.error("custom node pack %s: node %s is not registered: %s", pack.name, name, exc)
        return None


def _bind_hooks(schema: NodeSchema) -> None:
    """IS_CHANGED and VALIDATE_INPUTS run outside any node: give them the caller's services."""
    if schema.fingerprint is not None:
        schema.fingerprint = with_hook_services(schema.fingerprint)
    if schema.validate is not None:
        schema.validate.fn = with_hook_services(schema.validate.fn)


def _register(registry: NodeRegistry, schemas: list[NodeSchema], pack: PackStatus,
              owners: dict[str, str]) -> None:
    for schema in schemas:
        _bind_hooks(schema)
        if registry.is_builtin(schema.name):
            pack.clashes.append(schema.name)
            log.warning("custom node pack %s: node %r clashes with a built-in node and was not loaded",
                        pack.name, schema.name)
            continue
        if schema.name in owners and owners[schema.name] != pack.name:
            log.warning("custom node pack %s replaces node %r of pack %s", pack.name, schema.name,
                        owners[schema.name])
        try:
            registry.add(schema)
        except NodeNameClash:
            pack.clashes.append(schema.name)
            continue
        owners[schema.name] = pack.name
        pack.nodes.append(schema.name)
        pack.display_names[schema.name] = schema.display_name or schema.name


def _web_dir(module: Any, path: Path) -> Path | None:
    declared = getattr(module, "WEB_DIRECTORY", None)
    if not declared:
        return None
    base = path if path.is_dir() else path.parent
    folder = (base / str(declared)).resolve()
    if not folder.is_dir():
        log.warning("custom node pack %s: WEB_DIRECTORY %s is not a folder", path.name, folder)
        return None
    return folder


def _load_one(pack: PackStatus, host: PluginHost, owners: dict[str, str], import_timeout: float | None) -> None:
    started = time.perf_counter()

    def load() -> tuple[list[NodeSchema], Path | None]:
        module = _import_pack(pack.module, pack.path)
        schemas = pack_schemas(module, pack)
        web_dir = _web_dir(module, pack.path)
        setup = getattr(module, "plexus_setup", None)
        if callable(setup):
            _resolve(setup(host))
        return schemas, web_dir

    try:
        schemas, web_dir = run_with_time_limit(load, import_timeout, getattr(host.server, "loop", None), pack.name)
    except PackImportTimeout as exc:
        pack.error = str(exc)
        log.error("%s", exc)
    except (Exception, SystemExit):  # noqa: BLE001 - a broken pack never stops the others
        pack.error = traceback.format_exc()
        log.error("custom node pack %s failed to load:\n%s", pack.name, pack.error)
    else:
        _register(host.registry, schemas, pack, owners)
        pack.web_dir = web_dir
        pack.loaded = True
        host.loaded_module_dirs[pack.name] = str(pack.path)
        if web_dir is not None:
            host.extension_web_dirs[pack.name] = str(web_dir)
    pack.seconds = time.perf_counter() - started


def _run_prestartup(pack: PackStatus) -> None:
    script = pack.path / "prestartup_script.py"
    if not (pack.path.is_dir() and script.is_file()):
        return
    started = time.perf_counter()
    try:
        runpy.run_path(str(script), run_name=f"{pack.module}_prestartup")
    except (Exception, SystemExit):  # noqa: BLE001
        pack.prestartup_error = traceback.format_exc()
        log.error("prestartup script of %s failed:\n%s", pack.name, pack.prestartup_error)
    pack.seconds += time.perf_counter() - started


def print_import_times(report: PluginReport, stream: Any = None) -> None:
    packs = [p for p in report.packs if not p.skipped]
    if not packs:
        return
    stream = stream or sys.stderr  # logs, not results: `run` keeps stdout for output paths
    lines = ["Import times for custom nodes:"]
    for pack in sorted(packs, key=lambda p: p.seconds):
        flag = "" if pack.loaded else " (IMPORT FAILED)"
        lines.append(f"{pack.seconds:8.3f} seconds{flag}: {pack.path}")
    print("\n".join(lines), file=stream, flush=True)


def load_custom_nodes(registry: NodeRegistry, dirs: Iterable[str | Path], *, services: Any,
                      whitelist: list[str] | None = None, server: Any = None,
                      import_timeout: float | None = DEFAULT_IMPORT_TIMEOUT) -> PluginReport:
    """Load every pack in ``dirs`` into ``registry``. Never raises because of a pack; a pack
    whose import takes over ``import_timeout`` seconds is skipped (None or 0: no limit)."""
    host = PluginHost(registry=registry, services=services, server=server if server is not None else OfflineServer())
    report = PluginReport(host=host)
    taken: set[str] = set()
    by_name: dict[str, PackStatus] = {}
    for name, path in discover_packs(dirs):
        pack = PackStatus(name=name, path=path)
        report.packs.append(pack)
        if name in by_name:
            pack.skipped, pack.error = True, f"a pack named {name!r} was already found at {by_name[name].path}"
        elif not _in_whitelist(name, whitelist):
            pack.skipped, pack.error = True, "not in --whitelist-custom-nodes"
        else:
            by_name[name] = pack
            pack.module = _module_name(name, taken)
    active = [p for p in report.packs if not p.skipped]
    if not active:
        return report
    owners: dict[str, str] = {}
    with compat_on_path():
        install_compat(host)
        for pack in active:
            _run_prestartup(pack)
        for pack in active:
            _load_one(pack, host, owners, import_timeout)
    print_import_times(report)
    return report
