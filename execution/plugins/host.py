"""What custom-node packs see of the running Plexus: the registry, the services and the server.

One :class:`PluginHost` is built by the plugin loader and handed to the host-module compatibility
layer (``compat/``) and to Plexus-native packs (``plexus_setup(host)``). Nothing here is global:
the compat layer keeps the one reference, in ``compat/_plexus_binding.py``.

Stdlib only: the server object is duck-typed (``.routes``, ``.send_sync``, ``.client_id``, ``.app``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from execution.context import current_node

log = logging.getLogger("plexus.plugins")

# The services of the runner or validator calling a pack's hook (IS_CHANGED, VALIDATE_INPUTS),
# which run outside any node; set by the wrappers of :func:`with_hook_services`.
hook_services: ContextVar[Any] = ContextVar("plexus_hook_services", default=None)


def with_hook_services(hook: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``hook(services, ...)`` so that host modules called inside it see those services."""
    def call(services: Any, *args: Any) -> Any:
        token = hook_services.set(services)
        try:
            return hook(services, *args)
        finally:
            hook_services.reset(token)
    return call


class RouteRecorder:
    """A stand-in for aiohttp's ``RouteTableDef`` when no server runs (CLI ``run``, tests).

    Decorators record ``(method, path, handler)``; nothing is served. Packs that add routes at
    import time therefore load the same way with or without a server.
    """

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, Callable]] = []

    def route(self, method: str, path: str, **_kwargs: Any) -> Callable[[Callable], Callable]:
        def register(handler: Callable) -> Callable:
            self.recorded.append((method.upper(), path, handler))
            return handler
        return register

    def get(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        return self.route("DELETE", path, **kwargs)

    def view(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:
        return self.route("*", path, **kwargs)

    def static(self, prefix: str, path: Any, **_kwargs: Any) -> None:
        self.recorded.append(("STATIC", prefix, lambda: path))

    def __iter__(self):
        return iter(self.recorded)

    def __len__(self) -> int:
        return len(self.recorded)


class OfflineServer:
    """``PromptServer.instance`` when Plexus runs without a server: messages are kept, not sent."""

    def __init__(self) -> None:
        self.routes = RouteRecorder()
        self.app = None
        self.client_id: str | None = None
        self.sent: list[tuple[str, Any, str | None]] = []

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.sent.append((event, data, sid))
        del self.sent[:-100]  # keep the last few for inspection, never grow without bound


@dataclass
class PluginHost:
    """The live objects a plugin may reach. ``server`` is the real server, or an offline stand-in."""

    registry: Any
    services: Any
    server: Any = field(default_factory=OfflineServer)
    # ComfyUI's ``nodes.EXTENSION_WEB_DIRS`` / ``LOADED_MODULE_DIRS``: pack name -> folder. Packs may
    # add web folders here themselves; the server serves them at ``/extensions/<name>/``.
    extension_web_dirs: dict[str, str] = field(default_factory=dict)
    loaded_module_dirs: dict[str, str] = field(default_factory=dict)

    @property
    def routes(self) -> Any:
        """The server's route table (aiohttp ``RouteTableDef`` or a :class:`RouteRecorder`)."""
        return self.server.routes

    @property
    def current_services(self) -> Any:
        """The running node's services, else those of the hook being called, else the loader's."""
        ctx = current_node.get()
        if ctx is not None and ctx.services is not None:
            return ctx.services
        return hook_services.get() or self.services

    def send(self, event: str, data: Any, client_id: str | None = None) -> None:
        """A custom websocket message (``PromptServer.instance.send_sync``)."""
        try:
            self.server.send_sync(event, data, client_id)
        except Exception:  # a plugin message must never fail the node
            log.exception("sending plugin message %r failed", event)
