"""ComfyUI's V3 UI helpers (``comfy_api.latest.ui``): what an output node shows, as ``ui`` payloads.

Image helpers write PNGs like Plexus's own SaveImage/PreviewImage (8-bit by truncation, the prompt
and workflow as text chunks, taken from ``cls.hidden``).
"""
from __future__ import annotations

import secrets
from typing import Any

from _unavailable import NotAvailableInPlexus
from execution.context import current_node


class _UIOutput:
    """What every V3 UI helper has: its ``ui`` payload (each subclass builds its own)."""

    def as_dict(self) -> dict:
        return {}


class SavedResult(dict):
    def __init__(self, filename: str, subfolder: str, type: Any):
        super().__init__(filename=filename, subfolder=subfolder, type=getattr(type, "value", type))


class SavedImages(_UIOutput):
    def __init__(self, results: list, is_animated: bool = False):
        self.results, self.is_animated = list(results), is_animated

    def as_dict(self) -> dict:
        shown: dict = {"images": self.results}
        if self.is_animated:
            shown["animated"] = [True]
        return shown


def _running() -> Any:
    ctx = current_node.get()
    if ctx is None:
        raise RuntimeError("comfy_api ui helpers save files only while a node executes")
    return ctx


def _hidden(cls: Any, name: str) -> Any:
    hidden = getattr(cls, "hidden", None) if cls is not None else None
    return getattr(hidden, name, None) if hidden is not None else None


class ImageSaveHelper:
    @staticmethod
    def save_images(images: Any, filename_prefix: str, folder_type: Any, cls: Any = None,
                    compress_level: int = 4) -> list[SavedResult]:
        from nodes.image.images import save_images

        ctx = _running()
        kind = getattr(folder_type, "value", folder_type)
        root = ctx.services.paths.folder_for_type(kind)
        shown = save_images(ctx, images, filename_prefix, root, kind, _hidden(cls, "prompt"),
                            _hidden(cls, "extra_pnginfo"), compress_level)
        return [SavedResult(**entry) for entry in shown["ui"]["images"]]

    @staticmethod
    def get_save_images_ui(images: Any, filename_prefix: str, cls: Any = None, compress_level: int = 4) -> SavedImages:
        return SavedImages(ImageSaveHelper.save_images(images, filename_prefix, "output", cls, compress_level))


class PreviewImage(_UIOutput):
    """Writes ``temp/ComfyUI_temp_<5 letters>_<#####>_.png`` (compress level 1)."""

    def __init__(self, image: Any, animated: bool = False, cls: Any = None, **_more: Any):
        letters = "".join(secrets.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
        self.values = ImageSaveHelper.save_images(image, f"ComfyUI_temp_{letters}", "temp", cls, compress_level=1)
        self.animated = animated

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": [self.animated]}


class PreviewMask(PreviewImage):
    def __init__(self, mask: Any, animated: bool = False, cls: Any = None, **more: Any):
        image = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)
        super().__init__(image, animated, cls, **more)


class PreviewText(_UIOutput):
    def __init__(self, value: str, **_more: Any):
        self.value = value

    def as_dict(self) -> dict:
        return {"text": [self.value]}


class PreviewVideo(_UIOutput):
    def __init__(self, values: list, **_more: Any):
        self.values = list(values)

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": [True]}


class PreviewUI3D(_UIOutput):
    def __init__(self, model_file: Any, camera_info: Any = None, **_more: Any):
        self.model_file, self.camera_info = model_file, camera_info

    def as_dict(self) -> dict:
        return {"result": [self.model_file, self.camera_info]}


class PreviewAudio(_UIOutput):
    """Audio previews need an audio encoder that Plexus does not ship: a clear error when used."""

    def __init__(self, *_args: Any, **_kwargs: Any):
        raise NotAvailableInPlexus("ui.PreviewAudio", "Plexus has no audio encoder (no FLAC writer)")


class AudioSaveHelper:
    def __init__(self, *_args: Any, **_kwargs: Any):
        raise NotAvailableInPlexus("ui.AudioSaveHelper", "Plexus has no audio encoder")


SavedAudios = SavedImages
