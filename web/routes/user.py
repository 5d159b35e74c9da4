"""Settings, users and user files (``/settings``, ``/users``, ``/userdata``).

Single-user by default: the user is ``default`` and its files live in ``<user dir>/default``
(the queue database sits one level up, out of reach of these routes). A ``Comfy-User`` header
naming a user created through ``POST /users`` selects that user's folder instead.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from models.safe_files import PARTIAL_PREFIX, BlockedPath, make_folders, write_creating_folders
from web.json_body import error_body, read_json
from web.security import confine

if TYPE_CHECKING:
    from web.server import PlexusServer

SETTINGS_FILE = "comfy.settings.json"
USER_ID_PATTERN = re.compile(r"[^A-Za-z0-9_-]+")


def _write(path: Path, data: bytes) -> None:
    """A user file, its folders created; 400 when a file or folder is in the way (the client's paths)."""
    try:
        write_creating_folders(path, data)
    except BlockedPath as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


def user_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    user_root = Path(server.services.paths.user_dir)
    users_file = user_root / "users.json"

    def known_users() -> dict[str, str]:
        try:
            users = json.loads(users_file.read_text())
            return users if isinstance(users, dict) else {}
        except (OSError, ValueError):
            return {}

    def user_dir(request: web.Request) -> Path:
        user = request.headers.get("Comfy-User") or "default"
        if user != "default" and user not in known_users():
            raise web.HTTPForbidden(text=f"unknown user {user!r}")
        folder = confine(user_root, user)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def load_settings(request: web.Request) -> tuple[Path, dict]:
        path = user_dir(request) / SETTINGS_FILE
        try:
            settings = json.loads(path.read_text())
        except (OSError, ValueError):
            settings = {}
        return path, settings if isinstance(settings, dict) else {}

    async def get_settings(request: web.Request) -> web.Response:
        return web.json_response(load_settings(request)[1])

    async def post_settings(request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected an object")
        path, settings = load_settings(request)
        settings.update(body)
        _write(path, json.dumps(settings, indent=2).encode())
        return web.Response(status=200)

    async def get_setting(request: web.Request) -> web.Response:
        return web.json_response(load_settings(request)[1].get(request.match_info["setting_id"]))

    async def post_setting(request: web.Request) -> web.Response:
        value = await read_json(request)
        path, settings = load_settings(request)
        settings[request.match_info["setting_id"]] = value
        _write(path, json.dumps(settings, indent=2).encode())
        return web.Response(status=200)

    async def get_users(request: web.Request) -> web.Response:
        users = known_users()
        if not users:
            return web.json_response({"storage": "server", "migrated": True})
        return web.json_response({"storage": "server", "users": users})

    async def post_users(request: web.Request) -> web.Response:
        body = await read_json(request)
        name = str(body.get("username", "")).strip() if isinstance(body, dict) else ""
        if not name:
            raise web.HTTPBadRequest(text="username is required")
        users = known_users()
        if name in users.values():
            raise web.HTTPBadRequest(text="duplicate username")
        user_id = USER_ID_PATTERN.sub("-", name)[:48].strip("-") or "user"
        while user_id in users or user_id == "default":
            user_id += "_"
        users[user_id] = name
        _write(users_file, json.dumps(users).encode())
        return web.json_response(user_id)

    def user_file(request: web.Request, key: str = "file") -> Path:
        relative = request.match_info[key]
        if not relative:
            raise web.HTTPBadRequest(text="file name required")
        return confine(user_dir(request), relative)

    async def list_userdata(request: web.Request) -> web.Response:
        root = user_dir(request)
        directory = request.query.get("dir", "")
        if not directory:
            raise web.HTTPBadRequest(text="dir is required")
        folder = confine(root, directory)
        if not folder.is_dir():
            raise web.HTTPNotFound(text="directory not found")
        recurse = request.query.get("recurse", "").lower() == "true"
        full_info = request.query.get("full_info", "").lower() == "true"
        split = request.query.get("split", "").lower() == "true"
        entries = folder.rglob("*") if recurse else folder.iterdir()
        result: list[Any] = []
        for path in sorted(entries):
            if not path.is_file() or path.name.startswith((PARTIAL_PREFIX, ".tmp-")):
                continue
            relative = path.relative_to(folder).as_posix()
            if full_info:
                stat = path.stat()
                result.append({"path": relative, "size": stat.st_size, "modified": stat.st_mtime})
            elif split:
                result.append([relative, *relative.split("/")])
            else:
                result.append(relative)
        return web.json_response(result)

    async def get_userdata(request: web.Request) -> web.StreamResponse:
        path = user_file(request)
        if not path.is_file():
            raise web.HTTPNotFound(text="file not found")
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff",
                                               "Content-Type": "application/octet-stream"
                                               if not path.suffix == ".json" else "application/json"})

    def file_info(root: Path, path: Path, full_info: bool) -> Any:
        relative = path.relative_to(root).as_posix()
        if not full_info:
            return relative
        stat = path.stat()
        return {"path": relative, "size": stat.st_size, "modified": stat.st_mtime}

    async def post_userdata(request: web.Request) -> web.Response:
        path = user_file(request)
        overwrite = request.query.get("overwrite", "true").lower() != "false"
        if path.exists() and not overwrite:
            return web.json_response(error_body("conflict", "file exists"), status=409)
        if path.is_dir():
            raise web.HTTPBadRequest(text="is a directory")
        _write(path, await request.read())
        return web.json_response(file_info(user_dir(request), path,
                                           request.query.get("full_info", "").lower() == "true"))

    async def delete_userdata(request: web.Request) -> web.Response:
        path = user_file(request)
        if not path.is_file():
            raise web.HTTPNotFound(text="file not found")
        path.unlink()
        return web.Response(status=204)

    async def move_userdata(request: web.Request) -> web.Response:
        source = user_file(request)
        dest = user_file(request, "dest")
        if not source.is_file():
            raise web.HTTPNotFound(text="file not found")
        if dest.exists() and request.query.get("overwrite", "true").lower() == "false":
            return web.json_response(error_body("conflict", "destination exists"), status=409)
        if dest.is_dir():
            raise web.HTTPBadRequest(text="the destination is a folder")
        try:
            make_folders(dest.parent)
        except BlockedPath as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        shutil.move(source, dest)
        return web.json_response(file_info(user_dir(request), dest,
                                           request.query.get("full_info", "").lower() == "true"))

    return [
        ("GET", "/settings", get_settings), ("POST", "/settings", post_settings),
        ("GET", "/settings/{setting_id}", get_setting), ("POST", "/settings/{setting_id}", post_setting),
        ("GET", "/users", get_users), ("POST", "/users", post_users),
        ("GET", "/userdata", list_userdata),
        ("POST", "/userdata/{file}/move/{dest}", move_userdata),
        ("GET", "/userdata/{file}", get_userdata), ("POST", "/userdata/{file}", post_userdata),
        ("DELETE", "/userdata/{file}", delete_userdata),
    ]
