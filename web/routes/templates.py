"""Workflow templates and subgraph blueprints for the official ComfyUI frontend.

- ``/workflow_templates``: ``{pack: [workflow names]}`` from each loaded pack's
  ``example_workflows``/``example``/``examples``/``workflow``/``workflows`` folder; the files at
  ``/workflow_templates/{pack}/{name}.json``. Always JSON (the frontend loads its template index
  only when this answers JSON).
- ``/templates/{file}``: the template library of the ``comfyui-workflow-templates*`` packages when
  installed (index, workflows, thumbnails); without them an empty, valid index (``[]``).
- ``/global_subgraphs`` and ``/global_subgraphs/{id}``: blueprints from each loaded pack's
  ``subgraphs/*.json``; the id is the sha256 of the source and the path.
"""
from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from web.security import confine

if TYPE_CHECKING:
    from web.server import PlexusServer

EXAMPLE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
TEMPLATE_DISTRIBUTION_PREFIX = "comfyui-workflow-templates"
CONTENT_TYPES = {".json": "application/json", ".webp": "image/webp", ".png": "image/png", ".jpg": "image/jpeg",
                 ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg", ".flac": "audio/flac"}


@functools.cache
def installed_template_dirs() -> tuple[Path, ...]:
    """The ``templates/`` folders of the installed ``comfyui-workflow-templates*`` packages, the
    JSON (index) package first."""
    found: list[tuple[int, Path]] = []
    for distribution in metadata.distributions():
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        if not name.startswith(TEMPLATE_DISTRIBUTION_PREFIX):
            continue
        for file in distribution.files or []:
            parts = Path(file).parts
            if len(parts) >= 3 and parts[1] == "templates" and parts[0].startswith("comfyui_workflow_templates"):
                folder = Path(distribution.locate_file(Path(parts[0]) / "templates"))
                if folder.is_dir() and all(folder != f for _, f in found):
                    found.append((0 if name.endswith("-json") else 1, folder))
                break
    return tuple(folder for _, folder in sorted(found, key=lambda pair: pair[0]))


def installed_templates_version() -> str:
    for name in ("comfyui-workflow-templates", "comfyui-workflow-templates-json"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return ""


def _loaded_packs(server: "PlexusServer") -> list[Any]:
    return [p for p in getattr(server.plugin_report, "packs", None) or [] if p.loaded and Path(p.path).is_dir()]


def _subgraph_files(server: "PlexusServer") -> dict[str, tuple[Any, Path]]:
    blueprints = {}
    for pack in _loaded_packs(server):
        for path in sorted((Path(pack.path) / "subgraphs").glob("*.json")):
            digest = hashlib.sha256(f"custom_node{path}".encode()).hexdigest()
            blueprints[digest] = (pack, path)
    return blueprints


def _subgraph_entry(pack: Any, path: Path) -> dict:
    return {"source": "custom_node", "name": path.stem, "info": {"node_pack": f"custom_nodes.{pack.name}"}}


def templates_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    async def pack_workflows(request: web.Request) -> web.Response:
        listing: dict[str, list[str]] = {}
        for pack in _loaded_packs(server):
            for folder_name in EXAMPLE_FOLDERS:
                names = sorted(p.stem for p in (Path(pack.path) / folder_name).glob("*.json"))
                if names:
                    listing[pack.name] = names
                    break
        return web.json_response(listing)

    async def pack_workflow(request: web.Request) -> web.StreamResponse:
        for pack in _loaded_packs(server):
            if pack.name != request.match_info["pack"]:
                continue
            for folder_name in EXAMPLE_FOLDERS:
                folder = Path(pack.path) / folder_name
                if folder.is_dir():
                    path = confine(folder, request.match_info["name"])
                    if path.is_file() and path.suffix == ".json":
                        return web.FileResponse(path, headers={"Content-Type": "application/json"})
        return web.json_response({"error": "workflow not found"}, status=404)

    async def template_file(request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        for folder in installed_template_dirs():  # looked up once, on first use
            path = confine(folder, relative)
            if path.is_file():
                content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
                return web.FileResponse(path, headers={"Content-Type": content_type,
                                                       "X-Content-Type-Options": "nosniff"})
        if relative.startswith("index") and relative.endswith(".json") and "/" not in relative:
            return web.json_response([])  # no template package installed: an empty library
        return web.json_response({"error": "template file not found"}, status=404)

    async def subgraphs(request: web.Request) -> web.Response:
        return web.json_response({key: _subgraph_entry(pack, path)
                                  for key, (pack, path) in _subgraph_files(server).items()})

    async def subgraph(request: web.Request) -> web.Response:
        found = _subgraph_files(server).get(request.match_info["subgraph_id"])
        if found is None:
            return web.json_response({"error": "subgraph not found"}, status=404)
        pack, path = found
        return web.json_response(dict(_subgraph_entry(pack, path), data=path.read_text(encoding="utf-8")))

    return [("GET", "/workflow_templates", pack_workflows),
            ("GET", "/workflow_templates/{pack}/{name}", pack_workflow),
            ("GET", "/templates/{path:.+}", template_file),
            ("GET", "/global_subgraphs", subgraphs), ("GET", "/global_subgraphs/{subgraph_id}", subgraph)]
