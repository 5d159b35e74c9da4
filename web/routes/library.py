"""Model and file listings the official ComfyUI frontend and API clients (``comfyui-cli``) read.

- ``/internal/folder_paths``: every model folder kind and its directories.
- ``/experiment/models`` and ``/experiment/models/{folder}``: the model library, per folder;
  ``/experiment/models/preview/{folder}/{index}/{name}``: the image kept next to a model.
- ``/internal/files/{input|output|temp}``: file names there, newest first.
- ``/view_metadata/{folder}?filename=``: a listed safetensors model's ``__metadata__`` header as
  JSON (read directly: eight bytes of length, then JSON; no tensor is loaded); ``{}`` for a model
  folder (a diffusers or transformers model), which has no such header.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from models.folders import KIND_ALIASES, UnsafePath
from web.security import confine

if TYPE_CHECKING:
    from web.server import PlexusServer

HIDDEN_FOLDERS = ("configs", "custom_nodes")
MAX_HEADER_BYTES = 100 * 1024 * 1024
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PREVIEW_NAMES = (".webp", ".png", ".jpg", ".jpeg", ".preview.png")


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def read_safetensors_metadata(path: Path) -> dict:
    """The ``__metadata__`` of a safetensors file ({} when it has none); ValueError when malformed."""
    with open(path, "rb") as handle:
        raw_length = handle.read(8)
        if len(raw_length) != 8:
            raise ValueError("too short for a safetensors file")
        (length,) = struct.unpack("<Q", raw_length)
        if length > MAX_HEADER_BYTES:
            raise ValueError("header too large")
        header = json.loads(handle.read(length))
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _as_webp(path: Path) -> bytes:
    import io

    from PIL import Image

    with Image.open(path) as image:
        buffer = io.BytesIO()
        image.convert("RGBA").save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()


def library_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    paths = server.services.paths

    def folders() -> dict[str, list[Path]]:
        return {kind: dirs for kind, dirs in paths.model_folders.items() if kind not in HIDDEN_FOLDERS}

    def known_kind(name: str) -> str | None:
        kind = KIND_ALIASES.get(name, name)
        return kind if kind in folders() else None

    async def folder_paths(request: web.Request) -> web.Response:
        listing = {kind: [str(d) for d in dirs] for kind, dirs in folders().items()}
        for alias, kind in KIND_ALIASES.items():
            listing.setdefault(alias, listing.get(kind, []))
        return web.json_response(listing)

    async def model_folders(request: web.Request) -> web.Response:
        return web.json_response([{"name": kind, "folders": [str(d) for d in dirs]}
                                  for kind, dirs in sorted(folders().items())])

    async def models_in(request: web.Request) -> web.Response:
        kind = known_kind(request.match_info["folder"])
        if kind is None:
            return _error(f"unknown model folder {request.match_info['folder']!r}", 404)
        dirs = paths.model_folders[kind]
        entries = []
        for name in paths.list_models(kind):
            for index, folder in enumerate(dirs):
                candidate = folder / name
                if candidate.exists():
                    stat = candidate.stat()
                    entries.append({"name": name, "pathIndex": index, "modified": stat.st_mtime,
                                    "created": stat.st_ctime, "size": stat.st_size if candidate.is_file() else 0})
                    break
        return web.json_response(entries)

    async def files_of(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        folder = paths.folder_for_type(kind)
        if folder is None:
            return _error("type must be input, output or temp", 400)
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")] if folder.is_dir() else []
        files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        return web.json_response([p.name for p in files])

    async def view_metadata(request: web.Request) -> web.Response:
        kind = known_kind(request.match_info["folder"])
        filename = request.query.get("filename", "")
        if kind is None:
            return _error(f"unknown model folder {request.match_info['folder']!r}", 404)
        if not filename:
            return _error("filename is required", 400)
        try:
            path = paths.model_path(kind, filename)
        except UnsafePath as exc:
            return _error(str(exc), 400)
        if path is None or filename not in paths.list_models(kind):
            return _error("model not found", 404)
        if not path.is_file() or not filename.lower().endswith(SAFETENSORS_SUFFIXES):
            return web.json_response({})  # a model folder or another format: no header metadata
        try:
            return web.json_response(read_safetensors_metadata(path))
        except (OSError, ValueError) as exc:
            return _error(f"not a readable safetensors file: {exc}", 400)

    async def model_preview(request: web.Request) -> web.StreamResponse:
        """The image next to a model (``<name>.webp``/``.png``/``.jpg``/``.preview.png``), as webp;
        404 when the model has none (the library then shows its placeholder)."""
        kind = known_kind(request.match_info["folder"])
        name = request.match_info["filename"]
        try:
            index = int(request.match_info["path_index"])
            folder = paths.model_folders[kind][index] if kind is not None else None
        except (ValueError, IndexError):
            folder = None
        if folder is None or name not in paths.list_models(kind):
            return _error("model not found", 404)
        stem = name[: -len(Path(name).suffix)] if Path(name).suffix in SAFETENSORS_SUFFIXES + (".ckpt", ".pt") \
            else name
        for candidate in PREVIEW_NAMES:
            try:
                image = confine(folder, stem + candidate)
            except web.HTTPException:
                return _error("bad file name", 400)
            if image.is_file():
                return web.Response(body=_as_webp(image), content_type="image/webp")
        return _error("this model has no preview image", 404)

    return [("GET", "/internal/folder_paths", folder_paths), ("GET", "/experiment/models", model_folders),
            ("GET", "/experiment/models/preview/{folder}/{path_index}/{filename:.+}", model_preview),
            ("GET", "/experiment/models/{folder}", models_in), ("GET", "/internal/files/{kind}", files_of),
            ("GET", "/view_metadata/{folder}", view_metadata)]
