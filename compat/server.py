"""ComfyUI's ``server`` host module: ``PromptServer.instance`` is Plexus's running server.

Packs use ``PromptServer.instance.routes`` (an aiohttp ``RouteTableDef``, added to the app after
all packs load), ``.send_sync(event, data, sid)``, ``.client_id`` and ``.app``. Without a server
(``main.py run``) the instance is an offline stand-in that records routes and messages.
"""
from __future__ import annotations

from typing import Any

import _plexus_binding as binding


class _InstanceAccessor(type):
    @property
    def instance(cls) -> Any:
        return binding.host().server


class PromptServer(metaclass=_InstanceAccessor):
    """Only ``PromptServer.instance`` is meaningful; Plexus creates the one server itself."""

    def __init__(self, *_args: Any, **_kwargs: Any):
        raise TypeError("Plexus runs its own server; use PromptServer.instance")


class BinaryEventTypes:
    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = 3
    PREVIEW_IMAGE_WITH_METADATA = 4
