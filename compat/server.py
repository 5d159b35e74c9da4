"""ComfyUI's ``server`` host module: ``PromptServer.instance`` is Plexus's running server.

Packs use ``PromptServer.instance.routes`` (an aiohttp ``RouteTableDef``, added to the app after
all packs load), ``.send_sync(event, data, sid)``, ``.client_id``, ``.app``, ``.loop``,
``.supports`` (``["custom_nodes_from_web"]``: pack web folders are served from where they are, so
packs never copy or link them into the server's tree), ``.prompt_queue`` (a view of Plexus's
queue) and ``.web_root`` (a folder in the user directory). ``server.web`` is aiohttp's ``web``.
``instance`` is a thin view of the real server: every attribute is the server's own, except
``client_id``, which inside a running node is the client that queued *that* prompt (several
prompts may run at once in Plexus). Without a server (``main.py run``) the view wraps an offline
stand-in that records routes and messages.
"""
from __future__ import annotations

from typing import Any

import _plexus_binding as binding
from _prompt_queue import PromptQueue

from execution.context import current_node


class _ServerView:
    __slots__ = ("_plexus_server",)

    def __init__(self, server: Any):
        object.__setattr__(self, "_plexus_server", server)

    @property
    def client_id(self) -> str | None:
        ctx = current_node.get()
        if ctx is not None and ctx.extra_data.get("client_id"):
            return ctx.extra_data["client_id"]
        return getattr(self._plexus_server, "client_id", None)

    @property
    def supports(self) -> list[str]:
        return ["custom_nodes_from_web"]

    @property
    def prompt_queue(self) -> PromptQueue:
        return PromptQueue(self._plexus_server)

    @property
    def web_root(self) -> str:
        return str(binding.comfy_root() / "web")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plexus_server, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._plexus_server, name, value)

    def __eq__(self, other: object) -> bool:
        return other is self or other is self._plexus_server

    def __hash__(self) -> int:
        return hash(self._plexus_server)


class _InstanceAccessor(type):
    @property
    def instance(cls) -> Any:
        return _ServerView(binding.host().server)


class PromptServer(metaclass=_InstanceAccessor):
    """Only ``PromptServer.instance`` is meaningful; Plexus creates the one server itself."""

    def __init__(self, *_args: Any, **_kwargs: Any):
        raise TypeError("Plexus runs its own server; use PromptServer.instance")


class BinaryEventTypes:
    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4


def __getattr__(name: str) -> Any:
    if name == "web":
        from aiohttp import web

        return web
    raise AttributeError(f"module 'server' has no attribute {name!r}")
