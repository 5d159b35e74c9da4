"""Security middleware and safe paths.

- **Token auth** (``--auth-token``): every request needs the token, given as
  ``Authorization: Bearer TOKEN``, as ``?token=TOKEN`` (the websocket, and a browser's first page
  load), or as the ``plexus_token`` cookie that such a page load sets (HttpOnly, SameSite=Strict),
  so the editor's own fetches and websocket then work unchanged. Otherwise: 401.
- **Cross-site requests**: a request whose ``Origin`` does not match its ``Host`` is refused with
  403, websocket upgrades included (this stops a web page from driving a local server), unless
  ``--enable-cors-header [ORIGIN]`` is set, which instead answers with CORS headers.
- **DNS rebinding**: a server bound to loopback only answers requests whose ``Host`` names a
  loopback address (``localhost``, ``127.x.x.x``, ``[::1]``); otherwise 403. A page on a
  hostile domain that re-resolves to 127.0.0.1 would pass the Origin check, but not this one.
- **Paths**: :func:`confine` resolves symlinks and refuses anything that leaves its folder.
"""
from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from models.folders import UnsafePath, confined

TOKEN_COOKIE = "plexus_token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _token_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.query.get("token") or request.cookies.get(TOKEN_COOKIE)


def auth_middleware(token: str):
    expected = token.encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return await handler(request)
        given = _token_of(request)
        if given is None or not hmac.compare_digest(given.encode(), expected):
            return web.json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="plexus"'})
        response = await handler(request)
        if "token" in request.query and request.cookies.get(TOKEN_COOKIE) != given and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict", path="/")
        return response

    return check_token


def _origin_host(origin: str) -> str | None:
    parts = urlsplit(origin)
    if not parts.hostname:
        return None
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port or default_port
    return f"{parts.hostname.lower()}:{port}"


def _host_header(host: str, scheme: str) -> str | None:
    if not host:
        return None
    parts = urlsplit(f"{scheme}://{host}")
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    return f"{(parts.hostname or '').lower()}:{port}"


def origin_middleware():
    """Refuse cross-site requests: the Origin must name the same host and port as Host."""

    @web.middleware
    async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin:
            scheme = urlsplit(origin).scheme or "http"
            if origin == "null" or _origin_host(origin) != _host_header(request.headers.get("Host", ""), scheme):
                return web.json_response({"error": "cross-origin request refused"}, status=403)
        return await handler(request)

    return same_origin


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_host_middleware():
    """Refuse requests whose Host is not a loopback name (DNS rebinding)."""

    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        hostname = urlsplit(f"http://{request.headers.get('Host', '')}").hostname or ""
        if not is_loopback_host(hostname):
            return web.json_response({"error": "this server only answers to loopback host names"}, status=403)
        return await handler(request)

    return web.middleware(check)


def cors_middleware(allowed_origin: str):
    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response()
        else:
            response = await handler(request)
        if not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = allowed_origin
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS, PATCH"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    return cors


def security_middlewares(auth_token: str | None, cors_origin: str | None, loopback_only: bool = True) -> list:
    middlewares = [loopback_host_middleware()] if loopback_only else []
    middlewares.append(cors_middleware(cors_origin) if cors_origin else origin_middleware())
    if auth_token:
        middlewares.append(auth_middleware(auth_token))
    return middlewares


def confine(root: Path, *parts: str) -> Path:
    """``root/parts...`` with symlinks resolved; 400 for malformed names, 403 for leaving ``root``."""
    relative = "/".join(p for p in parts if p)
    try:
        return confined(root, relative)
    except UnsafePath as exc:
        message = str(exc)
        if "leaves" in message:
            raise web.HTTPForbidden(text=message) from exc
        raise web.HTTPBadRequest(text=message) from exc


def check_name(name: str) -> str:
    """A plain file name (no folders, no NUL); 400 otherwise."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", ".."):
        raise web.HTTPBadRequest(text=f"invalid file name {name!r}")
    return name
