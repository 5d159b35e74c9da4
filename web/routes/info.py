"""Information routes: node schemas, system stats, features, models, embeddings, extensions.

None of them imports torch: ``/system_stats`` reports devices and loaded models only once the
model manager exists (something already loaded a model).
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from models.folders import MODEL_KINDS
from web.errors import redact_argv
from web.json_body import error_body
from web.routes.static import OFFICIAL_FRONTEND_EXTENSION

if TYPE_CHECKING:
    from web.server import PlexusServer

PLEXUS_VERSION = "0.1.0"
COMFYUI_API_LEVEL = "0.3.64"  # the ComfyUI server whose routes and payloads Plexus answers (plus /jobs)


def _package_version(name: str) -> str:
    module = sys.modules.get(name)
    if module is not None and hasattr(module, "__version__"):
        return str(module.__version__)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unavailable"


def _devices(services: Any) -> list[dict]:
    """The accelerators torch sees, only if torch is already imported; otherwise the CPU."""
    import psutil

    memory = psutil.virtual_memory()
    cpu = {"name": "cpu", "type": "cpu", "index": None, "vram_total": memory.total, "vram_free": memory.available,
           "torch_vram_total": 0, "torch_vram_free": 0}
    torch = sys.modules.get("torch")
    if torch is None or services.force_cpu:
        return [cpu]
    devices = []
    try:
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(index)
                devices.append({"name": torch.cuda.get_device_name(index), "type": "cuda", "index": index,
                                "vram_total": total, "vram_free": free,
                                "torch_vram_total": torch.cuda.memory_reserved(index),
                                "torch_vram_free": torch.cuda.memory_reserved(index)
                                - torch.cuda.memory_allocated(index)})
    except Exception:  # noqa: BLE001 - stats must never fail the route
        pass
    return devices or [cpu]


def version_fields(frontend_version: str) -> dict:
    """Plexus is not ComfyUI: no ComfyUI version is claimed (``comfyui_version`` is empty); the
    frontend and template versions are those actually served, so no "outdated" warning is invented."""
    from web.routes.templates import installed_templates_version

    templates = installed_templates_version()
    return {"comfyui_version": "", "plexus_version": PLEXUS_VERSION, "comfyui_api_compatibility": COMFYUI_API_LEVEL,
            "required_frontend_version": frontend_version, "installed_templates_version": templates,
            "required_templates_version": templates}


def pack_scripts(report: Any) -> list[str]:
    """``/extensions/<pack>/<relpath>.js`` for every script under each loaded pack's web folder."""
    scripts: list[str] = []
    for pack in getattr(report, "packs", None) or []:
        web_dir = getattr(pack, "web_dir", None)
        if not web_dir or not getattr(pack, "loaded", True) or not Path(web_dir).is_dir():
            continue
        root = Path(web_dir)
        for path in sorted(root.rglob("*.js")):
            if path.is_file():
                scripts.append(f"/extensions/{pack.name}/{path.relative_to(root).as_posix()}")
    return scripts


def info_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    services = server.services

    async def object_info(request: web.Request) -> web.Response:
        return web.json_response(server.registry.object_info(services))

    async def object_info_one(request: web.Request) -> web.Response:
        return web.json_response(server.registry.object_info(services, request.match_info["node_class"]))

    async def system_stats(request: web.Request) -> web.Response:
        import psutil

        memory = psutil.virtual_memory()
        stats: dict[str, Any] = {
            "system": {
                "os": os.name, "platform": platform.platform(), "ram_total": memory.total,
                "ram_free": memory.available, **version_fields(server.frontend.version),
                "python_version": sys.version, "pytorch_version": _package_version("torch"),
                "embedded_python": False, "argv": redact_argv(sys.argv),
            },
            "devices": _devices(services),
        }
        if "models" in vars(services):  # the manager exists: something loaded a model already
            try:
                stats["loaded_models"] = services.models.loaded_models()
            except Exception as exc:  # noqa: BLE001
                stats["loaded_models_error"] = str(exc)
        stats["queue"] = {"remaining": server.queue.remaining(), "worker_restarts": server.pool.restarts}
        stats["websocket"] = {"clients": len(server.hub.clients), "dropped_slow_clients": server.hub.dropped_clients}
        stats["workers"] = server.pool.describe()  # with --cluster: each actor's host, device, loaded models
        return web.json_response(stats)

    async def features(request: web.Request) -> web.Response:
        return web.json_response(server.feature_flags())

    async def embeddings(request: web.Request) -> web.Response:
        names = [os.path.splitext(n)[0] for n in services.paths.list_models("embeddings")]
        return web.json_response(sorted(set(names)))

    async def models(request: web.Request) -> web.Response:
        return web.json_response(sorted(set(MODEL_KINDS) | set(services.paths.model_folders)))

    async def models_of(request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in services.paths.model_folders and folder not in ("unet", "clip"):
            return web.json_response(error_body("not_found", f"unknown model folder {folder[:100]!r}"), status=404)
        return web.json_response(services.paths.list_models(folder))

    async def extensions(request: web.Request) -> web.Response:
        report = server.plugin_report
        urls = report.extension_urls() if hasattr(report, "extension_urls") else pack_scripts(report)
        if server.frontend.name != "plexus":  # Plexus's extras for a site such as ComfyUI's frontend
            urls = [f"/extensions/{OFFICIAL_FRONTEND_EXTENSION}/plexus_extras.js", *urls]
        return web.json_response(urls)

    async def custom_nodes(request: web.Request) -> web.Response:
        report = server.plugin_report
        return web.json_response(report.to_json() if report is not None else [])

    return [
        ("GET", "/object_info", object_info), ("GET", "/object_info/{node_class}", object_info_one),
        ("GET", "/system_stats", system_stats), ("GET", "/features", features),
        ("GET", "/embeddings", embeddings), ("GET", "/models", models), ("GET", "/models/{folder}", models_of),
        ("GET", "/extensions", extensions), ("GET", "/custom_nodes", custom_nodes),
    ]
