"""Which frontend the server shows at ``/``: the Plexus editor (default) or a built static site
such as ComfyUI's official frontend (``--front-end-root DIR`` or ``--front-end comfyui``).

Both have the same small shape (:class:`Frontend`); the server asks it for its routes and never
branches on the kind. ``/plexus/`` serves the Plexus editor whichever frontend is at ``/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

FRONTEND_CHOICES = ("plexus", "comfyui")


class Frontend(Protocol):
    name: str
    version: str  # "" when unknown

    def root_routes(self) -> list[tuple[str, str, Any]]:
        """``GET /`` and the site's own files; registered after every API and plugin route."""


class FrontendNotInstalled(RuntimeError):
    pass


def choose_frontend(kind: str | None, root: str | None) -> Frontend:
    """``--front-end-root`` wins over ``--front-end``; neither gives the Plexus editor."""
    from web.frontends.plexus_editor import PlexusEditor
    from web.frontends.static_site import StaticSite, comfyui_frontend_package

    if root:
        return StaticSite(Path(root), name="custom")
    if kind == "comfyui":
        return comfyui_frontend_package()
    return PlexusEditor()
