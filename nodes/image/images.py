"""Image nodes: load, save, preview, and simple edits (ComfyUI names and sockets)."""
from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from execution.declare import Combo, Float, Hidden, In, Int, Out, String, node
from nodes.image.tensor_ops import CROP_MODES, UPSCALE_METHODS

MAX_RESOLUTION = 16384
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _input_images(services: Any) -> list[str]:
    return [f for f in services.paths.list_input_files() if f.lower().endswith(IMAGE_SUFFIXES)]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_image_file(path: Path, max_pixels: int | None = None) -> tuple[Any, Any]:
    """(IMAGE [B,H,W,3], MASK [B,H,W]) from a file; every frame of an animation of equal size.

    The mask is ``1 - alpha`` (ComfyUI's convention: 1 marks what to repaint); zeros without alpha.
    Frames x width x height over ``max_pixels`` is refused before anything is decoded.
    """
    import numpy as np
    import torch
    from PIL import Image, ImageOps, ImageSequence

    from models.safe_files import check_pixel_budget

    with Image.open(path) as opened:
        check_pixel_budget(opened, max_pixels, path.name)
        images, masks = [], []
        for frame in ImageSequence.Iterator(opened):
            frame = ImageOps.exif_transpose(frame)
            if frame.mode == "I":
                frame = frame.point(lambda value: value * (1 / 255))
            rgb = np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
            if images and rgb.shape != images[0].shape:
                continue
            images.append(rgb)
            if "A" in frame.getbands():
                alpha = np.asarray(frame.getchannel("A"), dtype=np.float32) / 255.0
                masks.append(1.0 - alpha)
            else:
                masks.append(np.zeros(rgb.shape[:2], dtype=np.float32))
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))


def _image_fingerprint(services: Any, image: str | None = None, **_: Any) -> str:
    return _file_sha256(services.paths.annotated_path(image))


def _validate_image(services: Any, image: str | None = None, **_: Any):
    try:
        path = services.paths.annotated_path(image or "")
    except ValueError as exc:
        return f"Invalid image file: {exc}"
    if not path.is_file():
        return f"Invalid image file: {image}"
    return True


@node("LoadImage", category="image",
      inputs=[Combo("image", _input_images, image_upload=True)],
      outputs=[Out("IMAGE"), Out("MASK")],
      fingerprint=_image_fingerprint, validate=_validate_image)
def load_image(ctx, image: str):
    """Load an image from the input folder; its alpha channel becomes the mask."""
    return load_image_file(ctx.services.paths.annotated_path(image), getattr(ctx.services, "max_image_pixels", None))


def png_bytes(pil_image: Any, text: bytes, compress_level: int) -> bytes:
    """The whole PNG file in memory (one write): Pillow's encoding with the metadata chunks ``text``
    (``png_encoding.text_chunks``, encoded once per run) after the header; byte for byte what
    Pillow writes with the same ``PngInfo``."""
    import io

    from nodes.image.png_encoding import with_text_chunks

    buffer = io.BytesIO()
    pil_image.save(buffer, format="PNG", compress_level=compress_level)
    return with_text_chunks(buffer.getvalue(), text) if text else buffer.getvalue()


def png_metadata(ctx, prompt: dict | None, extra_pnginfo: dict | None) -> dict[str, str]:
    """The PNG text chunks (``prompt`` and each ``extra_pnginfo`` entry as JSON), serialised once
    per run: every save node of a run receives the same PROMPT and EXTRA_PNGINFO objects, and a
    wide graph would otherwise encode its whole prompt once per image."""
    return _run_metadata(ctx, prompt, extra_pnginfo)[0]


def png_text(ctx, prompt: dict | None, extra_pnginfo: dict | None) -> bytes:
    """:func:`png_metadata` as PNG chunks, encoded (and checksummed) once per run."""
    return _run_metadata(ctx, prompt, extra_pnginfo)[1]


def _run_metadata(ctx, prompt: dict | None, extra_pnginfo: dict | None) -> tuple[dict[str, str], bytes]:
    from nodes.image.png_encoding import text_chunks

    memo = getattr(ctx, "run_memo", None)
    cached = memo.get("png_metadata") if memo is not None else None
    if cached is not None and cached[0] is prompt and cached[1] is extra_pnginfo:
        return cached[2], cached[3]
    chunks: dict[str, str] = {}
    if prompt is not None:
        chunks["prompt"] = json.dumps(prompt)
    for key, value in (extra_pnginfo or {}).items():
        chunks[key] = json.dumps(value)
    encoded = text_chunks(chunks)
    if memo is not None:  # the objects are kept with their text, so their identity stays theirs
        memo["png_metadata"] = (prompt, extra_pnginfo, chunks, encoded)
    return chunks, encoded


def save_images(ctx, images: Any, filename_prefix: str, root: Path, folder_type: str,
                prompt: dict | None, extra_pnginfo: dict | None, compress_level: int) -> dict:
    from models.output_journal import write_noted
    from nodes.image.tensor_ops import tensor_to_pil

    level = getattr(ctx.services, "png_compress_level", None)
    compress_level = compress_level if level is None else level
    text = png_text(ctx, prompt, extra_pnginfo)

    def write(image: Any, path: Path) -> None:
        write_noted(ctx.services, path, png_bytes(tensor_to_pil(image), text, compress_level))

    return save_numbered_files(ctx, images, filename_prefix, root, folder_type, write,
                               lambda stem, counter: f"{stem}_{counter:05}_.png")


def save_numbered_files(ctx, images: Any, filename_prefix: str, root: Path, folder_type: str,
                        write: Any, file_name: Any) -> dict:
    """Write each image with ``write(image, path)`` (which must refuse an existing file with
    FileExistsError) under ``file_name(stem, counter)``; the ui entry lists the files."""
    from models.output_journal import note_output

    paths = ctx.services.paths
    slot = paths.save_slot(filename_prefix, root)
    folder, stem, counter, subfolder = slot
    results = []
    for index, image in enumerate(images):
        resolved_again = False
        while True:  # a name taken meanwhile (another worker, a file dropped in) is never overwritten
            name = file_name(stem, counter)
            note_output(ctx.services, ctx.prompt_id, folder / name)
            try:
                write(image, folder / name)
                break
            except FileExistsError:
                counter += 1
            except FileNotFoundError:  # the remembered folder was removed meanwhile: resolve it again
                if resolved_again:
                    raise
                resolved_again = True
                paths.forget_save_slot(filename_prefix, root)
                slot = paths.save_path(filename_prefix, root)
                folder, stem, counter, subfolder = slot
        results.append({"filename": name, "subfolder": subfolder, "type": folder_type})
        counter += 1
        paths.saved(filename_prefix, root, slot, counter)
        if len(images) > 1:  # a bar for a batch; one image needs none (ComfyUI sends none at all)
            ctx.progress(index + 1, len(images))
    return {"ui": {"images": results}}


@node("SaveImage", category="image", output_node=True,
      inputs=[In("images", "IMAGE", tooltip="The images to save."),
              String("filename_prefix", "Plexus", tooltip="May include subfolders, e.g. 'portraits/cat'."),
              Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")])
def save_image(ctx, images, filename_prefix: str = "Plexus", prompt=None, extra_pnginfo=None):
    """Save images as PNG files in the output folder, with the workflow embedded."""
    return save_images(ctx, images, filename_prefix, ctx.services.paths.output_dir, "output",
                       prompt, extra_pnginfo, 4)


# Random per process (ComfyUI: per node instance), not per call: the next number of each prefix
# is then remembered instead of rescanning a temp folder that grows by one file per preview.
PREVIEW_PREFIX = f"PlexusPreview_{secrets.token_hex(3)}"


@node("PreviewImage", category="image", output_node=True,
      inputs=[In("images", "IMAGE"), Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")])
def preview_image(ctx, images, prompt=None, extra_pnginfo=None):
    """Show images without keeping them (written to the temp folder)."""
    return save_images(ctx, images, PREVIEW_PREFIX, ctx.services.paths.temp_dir, "temp", prompt, extra_pnginfo, 1)


@node("EmptyImage", category="image",
      inputs=[Int("width", 512, min=1, max=MAX_RESOLUTION), Int("height", 512, min=1, max=MAX_RESOLUTION),
              Int("batch_size", 1, min=1, max=4096), Int("color", 0, min=0, max=0xFFFFFF, display="color")],
      outputs=[Out("IMAGE")], memory=lambda width, height, batch_size=1: 4 * 3 * batch_size * width * height)
def empty_image(width: int, height: int, batch_size: int = 1, color: int = 0):
    """A batch of images filled with one colour (0xRRGGBB)."""
    import torch

    rgb = torch.tensor([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], dtype=torch.float32) / 255.0
    return (rgb.expand(batch_size, height, width, 3).clone(),)


@node("ImageScale", category="image/upscaling",
      inputs=[In("image", "IMAGE"), Combo("upscale_method", UPSCALE_METHODS),
              Int("width", 512, min=0, max=MAX_RESOLUTION), Int("height", 512, min=0, max=MAX_RESOLUTION),
              Combo("crop", CROP_MODES)],
      outputs=[Out("IMAGE")])
def image_scale(image, upscale_method: str, width: int, height: int, crop: str):
    """Resize images; 0 for one side keeps the aspect ratio. Crop modes trim to the target ratio."""
    from nodes.image.tensor_ops import resize_image

    src_h, src_w = image.shape[1], image.shape[2]
    if width == 0 and height == 0:
        return (image,)
    width = width or max(1, round(src_w * height / src_h))
    height = height or max(1, round(src_h * width / src_w))
    return (resize_image(image, width, height, upscale_method, crop),)


@node("ImageInvert", category="image", inputs=[In("image", "IMAGE")], outputs=[Out("IMAGE")])
def image_invert(image):
    """1 - image."""
    return (1.0 - image,)


@node("ImageBatch", category="image", inputs=[In("image1", "IMAGE"), In("image2", "IMAGE")], outputs=[Out("IMAGE")])
def image_batch(image1, image2):
    """Join two batches; the second is resized to the first's size if they differ."""
    import torch

    from nodes.image.tensor_ops import resize_image

    if image2.shape[1:3] != image1.shape[1:3]:
        image2 = resize_image(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
    return (torch.cat((image1, image2[..., :image1.shape[-1]]), dim=0),)


@node("RebatchImages", category="image/batch", input_is_list=True,
      inputs=[In("images", "IMAGE"), Int("batch_size", 1, min=1, max=4096)],
      outputs=[Out("IMAGE", is_list=True)])
def rebatch_images(images: list, batch_size: list):
    """Regroup a list of image batches into batches of ``batch_size``."""
    import torch

    size = batch_size[0]
    frames = [frame for batch in images for frame in batch]
    return ([torch.stack(frames[i:i + size]) for i in range(0, len(frames), size)],)


@node("ImageCrop", category="image/transform",
      inputs=[In("image", "IMAGE"), Int("width", 512, min=1, max=MAX_RESOLUTION),
              Int("height", 512, min=1, max=MAX_RESOLUTION), Int("x", 0, min=0, max=MAX_RESOLUTION),
              Int("y", 0, min=0, max=MAX_RESOLUTION)],
      outputs=[Out("IMAGE")])
def image_crop(image, width: int, height: int, x: int, y: int):
    """Crop a region; it is clamped to the image."""
    x = min(x, image.shape[2] - 1)
    y = min(y, image.shape[1] - 1)
    return (image[:, y:y + height, x:x + width, :],)


BLEND_MODES = ["normal", "multiply", "screen", "overlay", "soft_light", "difference"]


def _blend(a, b, mode: str):
    import torch

    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    if mode == "soft_light":
        return torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (_soft_g(a) - a))
    if mode == "difference":
        return (a - b).abs()
    return b


def _soft_g(x):
    import torch

    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


@node("ImageBlend", category="image/postprocessing",
      inputs=[In("image1", "IMAGE"), In("image2", "IMAGE"), Float("blend_factor", 0.5, min=0.0, max=1.0, step=0.01),
              Combo("blend_mode", BLEND_MODES)],
      outputs=[Out("IMAGE")])
def image_blend(image1, image2, blend_factor: float, blend_mode: str):
    """Blend image2 over image1 (resized to match)."""
    from nodes.image.tensor_ops import resize_image

    if image2.shape[1:3] != image1.shape[1:3]:
        image2 = resize_image(image2, image1.shape[2], image1.shape[1], "bicubic", "center")
    blended = _blend(image1, image2, blend_mode)
    return ((image1 * (1 - blend_factor) + blended * blend_factor).clamp(0, 1),)
