"""Security middleware and safe paths.

- **Token auth** (``--auth-token``): every request needs the token, given as
  ``Authorization: Bearer TOKEN``, as ``?token=TOKEN`` (the websocket, and a browser's first page
  load), or as the ``plexus_token`` cookie that such a page load sets (HttpOnly, SameSite=Strict),
  so the editor's own fetches and websocket then work unchanged. Otherwise: 401.
- **Cross-site requests**: a request whose ``Origin`` does not match its ``Host`` is refused with
  403, websocket upgrades included (this stops a web page from driving a local server), unless
  ``--enable-cors-header [ORIGIN]`` is set, which instead answers with CORS headers.
- **Preflight**: ``OPTIONS`` is answered by the CORS layer itself (with ``--enable-cors-header``)
  and otherwise needs the token like any other method: it never reaches a handler unchecked.
- **DNS rebinding**: a page on a hostile domain that re-resolves to this server would pass the
  Origin check, so the ``Host`` header must name the server: a loopback name when it listens on
  loopback only; with ``--listen`` and no token, a loopback name, an IP address (rebinding needs a
  domain name), this machine's host name, or a name given with ``--allow-host``. With a token the
  check applies only to the names of ``--allow-host`` (the token already stops a foreign page).
- **Paths**: :func:`confine` resolves symlinks and refuses anything that leaves its folder.
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
import socket
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from models.folders import UnsafePath, confined
from web.json_body import error_body

TOKEN_COOKIE = "plexus_token"
MAX_NAME_BYTES = 255
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
        given = _token_of(request)
        # surrogateescape: header bytes that are not UTF-8 are a wrong token, not a server error
        if given is None or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
            return web.json_response(error_body("unauthorized", "unauthorized",
                                                "send Authorization: Bearer TOKEN (or ?token=)"),
                                     status=401, headers={"WWW-Authenticate": 'Bearer realm="plexus"'})
        response = await handler(request)
        if "token" in request.query and request.cookies.get(TOKEN_COOKIE) != given and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict", path="/")
        return response

    return check_token


def _origin_host(origin: str) -> str | None:
    try:
        parts = urlsplit(origin)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a malformed address or port: no match
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname.lower()}:{port}"


def _host_header(host: str, scheme: str) -> str | None:
    if not host:
        return None
    try:
        parts = urlsplit(f"{scheme}://{host}")
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    return f"{(parts.hostname or '').lower()}:{port}"


def host_name(request: web.Request) -> str:
    """The host name of the ``Host`` header, lower-case; empty when it is malformed."""
    try:
        return (urlsplit(f"http://{request.headers.get('Host', '')}").hostname or "").lower()
    except ValueError:
        return ""


def origin_middleware():
    """Refuse cross-site requests: the Origin must name the same host and port as Host."""

    @web.middleware
    async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin:
            try:
                scheme = urlsplit(origin).scheme or "http"
            except ValueError:
                scheme = "http"
            if origin == "null" or _origin_host(origin) != _host_header(request.headers.get("Host", ""), scheme):
                return web.json_response(error_body("forbidden", "cross-origin request refused",
                                                    "pass --enable-cors-header ORIGIN to allow it"), status=403)
        return await handler(request)

    return same_origin


@functools.lru_cache(maxsize=256)  # asked for every request's Host header; parsing it costs more than the rest
def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def machine_host_names() -> set[str]:
    """This machine's own names (``hostname``, its fully qualified form)."""
    names = {socket.gethostname().lower()}
    try:
        names.add(socket.getfqdn().lower())
    except OSError:
        pass
    return {n for n in names if n}


def host_check_middleware(allowed_names: set[str], *, any_ip: bool):
    """Refuse requests whose Host is not one of the server's names (DNS rebinding)."""
    allowed = {n.lower() for n in allowed_names}

    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        hostname = host_name(request)
        if not (is_loopback_host(hostname) or hostname in allowed or (any_ip and _is_ip_address(hostname))):
            return web.json_response(error_body("forbidden", "this server does not answer to that Host name",
                                                "pass --allow-host NAME to add a name"), status=403)
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


def security_middlewares(auth_token: str | None, cors_origin: str | None, loopback_only: bool = True,
                         allowed_hosts: list[str] | None = None, verbose_errors: bool = False) -> list:
    from web.errors import error_middleware

    middlewares = [error_middleware(verbose_errors)]
    extra = set(allowed_hosts or [])
    if loopback_only:
        middlewares.append(host_check_middleware(extra, any_ip=False))
    elif not auth_token:
        middlewares.append(host_check_middleware(extra | machine_host_names(), any_ip=True))
    elif extra:
        middlewares.append(host_check_middleware(extra, any_ip=True))
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
    """A plain file name (no folders, no NUL, at most 255 bytes); 400 otherwise."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", ".."):
        raise web.HTTPBadRequest(text=f"invalid file name {name[:100]!r}")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise web.HTTPBadRequest(text=f"file name longer than {MAX_NAME_BYTES} bytes")
    return name
