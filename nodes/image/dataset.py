"""Dataset nodes: load every image of a folder (sorted, limited, image files only) for batch work."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from execution.declare import Boolean, Int, Out, String, node

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _folder(services: Any, folder: str) -> Path:
    """A folder under input/ (or ``name [output]`` / ``name [temp]``), confined to it."""
    return services.paths.annotated_path(folder.strip() or ".", "input")


def _image_files(root: Path, recursive: bool) -> list[Path]:
    pattern = root.rglob("*") if recursive else root.glob("*")
    files = [p for p in pattern if p.is_file() and not p.name.startswith(".")
             and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _listing_fingerprint(services: Any, folder: str = "", recursive: bool = False, **_: Any) -> str:
    """Changes when a file is added, removed or rewritten, so the node re-runs."""
    try:
        root = _folder(services, folder)
        files = _image_files(root, bool(recursive)) if root.is_dir() else []
    except ValueError:
        return "invalid"
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _validate_folder(services: Any, folder: str = "", **_: Any):
    try:
        root = _folder(services, folder)
    except ValueError as exc:
        return f"Invalid folder {folder!r}: {exc}"
    if not root.is_dir():
        return f"Folder not found: {folder!r} (looked in {root})"
    return True


@node("LoadImagesFromFolder", display_name="Load Images From Folder", category="image/dataset",
      inputs=[String("folder", "", tooltip="a folder inside input/ ('name [output]' for output/)"),
              Int("limit", 0, min=0, max=1_000_000, tooltip="0 = every image"),
              Int("start_index", 0, min=0, max=1_000_000),
              Boolean("recursive", False)],
      outputs=[Out("IMAGE", "images", is_list=True), Out("STRING", "names", is_list=True), Out("INT", "count")],
      fingerprint=_listing_fingerprint, validate=_validate_folder)
def load_images_from_folder(ctx, folder: str, limit: int = 0, start_index: int = 0, recursive: bool = False):
    """Load the image files of a folder in sorted order, one IMAGE per file (sizes may differ), with
    their names relative to the folder. Files that are not decodable images are skipped with a warning."""
    from nodes.image.images import load_image_file

    root = _folder(ctx.services, folder)
    files = _image_files(root, recursive)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder!r}")
    selected = files[start_index:start_index + limit] if limit else files[start_index:]
    if not selected:
        raise ValueError(f"start_index {start_index} is past the {len(files)} images in {folder!r}")
    images, names = [], []
    for index, path in enumerate(selected):
        try:
            image, _mask = load_image_file(path, getattr(ctx.services, "max_image_pixels", None))
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors; over the pixel budget
            ctx.warn(f"skipped {path.name}: not a readable image ({exc})")
            continue
        images.append(image[:1])
        names.append(path.relative_to(root).as_posix())
        ctx.progress(index + 1, len(selected))
    if not images:
        raise ValueError(f"none of the {len(selected)} image files in {folder!r} could be read")
    return (images, names, len(images))


