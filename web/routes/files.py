"""``/view`` and ``/upload/image|mask``: files of the input, output and temp folders.

Every path is resolved (symlinks followed) and confined to its folder. Uploads are verified as
images before anything is written, and written atomically. Uploads, mask compositing and
``/view`` conversions refuse images whose frames x width x height pass ``--max-image-pixels``
before decoding them. ``/view`` serves images as images and
everything else as an attachment (``application/octet-stream``, ``nosniff``): never html or js.
"""
from __future__ import annotations

import asyncio
import io
import json
import mimetypes
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from models.safe_files import BlockedPath, PixelBudgetExceeded, check_pixel_budget, write_creating_folders
from web.security import check_name, confine

if TYPE_CHECKING:
    from web.server import PlexusServer

SAFE_INLINE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff",
                     "video/mp4", "video/webm", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/ogg",
                     "audio/flac", "application/json", "text/plain"}
PREVIEW_FORMATS = {"webp": ("WEBP", "image/webp"), "jpeg": ("JPEG", "image/jpeg"), "jpg": ("JPEG", "image/jpeg"),
                   "png": ("PNG", "image/png")}


def _folder(server: "PlexusServer", kind: str) -> Path:
    folder = server.services.paths.folder_for_type(kind or "output")
    if folder is None:
        raise web.HTTPBadRequest(text=f"unknown type {kind!r}")
    return folder


def _verify_image(data: bytes, max_pixels: int | None) -> Any:
    """The PIL image of ``data``; 400 when it is not an image PIL can read or is over the budget."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            _refuse_over_budget(probe, max_pixels, "the uploaded image")
            probe.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except web.HTTPException:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise web.HTTPBadRequest(text=f"not a valid image: {exc}") from exc


def _target_name(folder: Path, name: str, data: bytes, overwrite: bool) -> str:
    """ComfyUI's clash rule: same content reuses the name, other content becomes ``name (1).ext``."""
    if overwrite:
        return name
    stem, suffix = os.path.splitext(name)
    candidate, index = name, 1
    while (folder / candidate).exists():
        if (folder / candidate).is_file() and (folder / candidate).read_bytes() == data:
            break
        candidate = f"{stem} ({index}){suffix}"
        index += 1
    return candidate


def file_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    async def view(request: web.Request) -> web.StreamResponse:
        query = request.query
        filename = query.get("filename", "")
        if not filename:
            raise web.HTTPBadRequest(text="filename is required")
        root = _folder(server, query.get("type", "output"))
        path = confine(root, query.get("subfolder", ""), filename)
        if not path.is_file():
            raise web.HTTPNotFound(text="file not found")
        preview, channel = query.get("preview"), query.get("channel")
        if preview or (channel and channel != "rgba"):
            return await asyncio.get_running_loop().run_in_executor(
                None, _converted, path, preview, channel, server.services.max_image_pixels)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        if content_type not in SAFE_INLINE_TYPES:
            content_type = "application/octet-stream"
            headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        else:
            headers["Content-Disposition"] = f'filename="{path.name}"'
        headers["Content-Type"] = content_type
        return web.FileResponse(path, headers=headers)

    async def upload(request: web.Request, mask: bool) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise web.HTTPBadRequest(text="multipart/form-data expected")
        try:
            post = await request.post()
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed body is the client's error
            raise web.HTTPBadRequest(text=f"malformed multipart body: {exc}") from exc
        field = post.get("image")
        if not isinstance(field, web.FileField):
            raise web.HTTPBadRequest(text="an 'image' file field is required")
        name = check_name(os.path.basename(field.filename or "") or "")
        kind = str(post.get("type") or "input")
        subfolder = str(post.get("subfolder") or "")
        overwrite = str(post.get("overwrite") or "").lower() in ("true", "1")
        data = field.file.read()
        root = _folder(server, kind)
        folder = confine(root, subfolder) if subfolder else confine(root, "")
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(None, _verify_image, data, server.services.max_image_pixels)
        if mask:
            data = await loop.run_in_executor(None, _apply_mask, server, image, post.get("original_ref"))
            overwrite = True if post.get("overwrite") is None else overwrite
        final = _target_name(folder, name, data, overwrite)
        target = confine(folder, final)
        try:
            await loop.run_in_executor(None, write_creating_folders, target, data)
        except BlockedPath as exc:  # e.g. a subfolder named like an uploaded file
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return web.json_response({"name": final, "subfolder": subfolder, "type": kind})

    async def upload_image(request: web.Request) -> web.Response:
        return await upload(request, mask=False)

    async def upload_mask(request: web.Request) -> web.Response:
        return await upload(request, mask=True)

    def _apply_mask(server: "PlexusServer", mask_image: Any, original_ref: Any) -> bytes:
        """The original image with the uploaded mask's alpha as its alpha channel (PNG bytes)."""
        from PIL import Image

        try:
            ref = json.loads(str(original_ref)) if original_ref else None
        except ValueError:
            ref = None
        if not isinstance(ref, dict) or not ref.get("filename"):
            raise web.HTTPBadRequest(text="original_ref {filename, subfolder, type} is required")
        original_path = confine(_folder(server, ref.get("type") or "input"), str(ref.get("subfolder") or ""),
                                str(ref["filename"]))
        if not original_path.is_file():
            raise web.HTTPNotFound(text="original image not found")
        with Image.open(original_path) as original:
            _refuse_over_budget(original, server.services.max_image_pixels, "the original image")
            result = original.convert("RGBA")
        alpha = mask_image.convert("RGBA").getchannel("A").resize(result.size)
        result.putalpha(alpha)
        buffer = io.BytesIO()
        result.save(buffer, format="PNG")
        return buffer.getvalue()

    return [("GET", "/view", view), ("POST", "/upload/image", upload_image), ("POST", "/upload/mask", upload_mask)]


def _refuse_over_budget(image: Any, max_pixels: int | None, what: str, frames: int | None = None) -> None:
    try:
        check_pixel_budget(image, max_pixels, what, frames)
    except PixelBudgetExceeded as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


def _converted(path: Path, preview: str | None, channel: str | None, max_pixels: int | None) -> web.Response:
    """A re-encoded image (``preview=webp;90``) or one channel of it (``channel=rgb|a``)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            _refuse_over_budget(opened, max_pixels, path.name, frames=1)  # only the first frame is converted
            image = opened.convert("RGBA") if opened.mode != "RGBA" else opened.copy()
    except web.HTTPException:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise web.HTTPBadRequest(text=f"not an image: {exc}") from exc
    if channel == "rgb":
        image = image.convert("RGB")
    elif channel == "a":
        alpha = image.getchannel("A")
        image = Image.merge("RGBA", (alpha.point(lambda _: 255),) * 3 + (alpha,))
    fmt, mime = "PNG", "image/png"
    quality = 90
    if preview:
        kind, _, quality_text = preview.partition(";")
        fmt, mime = PREVIEW_FORMATS.get(kind.lower(), ("WEBP", "image/webp"))
        try:
            quality = max(1, min(100, int(quality_text or 90)))
        except ValueError:
            quality = 90
    if fmt == "JPEG":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=quality)
    stem = path.stem
    return web.Response(body=buffer.getvalue(), content_type=mime, headers={
        "Content-Disposition": f'filename="{stem}.{fmt.lower()}"', "X-Content-Type-Options": "nosniff"})
