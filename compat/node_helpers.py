"""ComfyUI's ``node_helpers``: conditioning edits and image-loading helpers (all real)."""
from __future__ import annotations

import hashlib
from typing import Any, Callable


def conditioning_set_values(conditioning: list, values: dict | None = None, append: bool = False) -> list:
    """A copy of ``conditioning`` with ``values`` set in every entry's options. With ``append``,
    a key already present is extended (``old + new``) instead of replaced."""
    values = values or {}
    out = []
    for entry in conditioning:
        options = dict(entry[1])
        for key, value in values.items():
            options[key] = options[key] + value if append and key in options else value
        out.append([entry[0], options, *entry[2:]])
    return out


def pillow(fn: Callable[[Any], Any], arg: Any) -> Any:
    """``fn(arg)`` with PIL; a truncated image is retried with truncated loading allowed."""
    from PIL import ImageFile, UnidentifiedImageError

    try:
        return fn(arg)
    except (OSError, UnidentifiedImageError, ValueError):
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return fn(arg)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def hasher() -> Callable[..., Any]:
    """The hash constructor for file fingerprints (SHA-256)."""
    return hashlib.sha256


def string_to_torch_dtype(name: str) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(name)


def image_alpha_fix(destination: Any, source: Any) -> tuple[Any, Any]:
    """Give both ``[B, H, W, C]`` images the same channel count (an opaque alpha where missing)."""
    import torch

    def with_alpha(image: Any) -> Any:
        return torch.cat([image, torch.ones_like(image[..., :1])], dim=-1)

    if destination.shape[-1] < source.shape[-1]:
        destination = with_alpha(destination)
    elif destination.shape[-1] > source.shape[-1]:
        source = with_alpha(source)
    return destination, source
