"""A built static frontend (ComfyUI's official one, or any folder with an ``index.html``) at ``/``.

Its files are served confined to the folder; paths no API route answered fall through to it.
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web

from web.frontends import FrontendNotInstalled

COMFYUI_FRONTEND_PACKAGE = "comfyui-frontend-package"


class StaticSite:
    def __init__(self, root: Path, *, name: str, version: str = "") -> None:
        root = Path(root).resolve()
        if not (root / "index.html").is_file():
            raise FrontendNotInstalled(f"no index.html in the frontend folder {root}")
        self.root = root
        self.name = name
        self.version = version

    def root_routes(self) -> list[tuple[str, str, Any]]:
        from web.routes.static import serve_file

        async def index(request: web.Request) -> web.StreamResponse:
            return serve_file(self.root, "index.html")

        async def site_file(request: web.Request) -> web.StreamResponse:
            return serve_file(self.root, request.match_info["path"])

        return [("GET", "/", index), ("GET", "/{path:.+}", site_file)]


def comfyui_frontend_package() -> StaticSite:
    """The installed ``comfyui-frontend-package`` (``pip install -r requirements-frontend.txt``)."""
    try:
        import comfyui_frontend_package
    except ImportError as exc:
        raise FrontendNotInstalled(
            f"--front-end comfyui needs the {COMFYUI_FRONTEND_PACKAGE} package: "
            f"pip install -r requirements-frontend.txt") from exc
    root = Path(comfyui_frontend_package.__file__).resolve().parent / "static"
    return StaticSite(root, name="comfyui", version=metadata.version(COMFYUI_FRONTEND_PACKAGE))
