"""Reading model files safely: safetensors only, with clear errors naming the file.

Pickle-based formats (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) are refused before anything is read:
unpickling runs arbitrary code from the file. Everything else goes through ``safetensors``, whose
header is plain JSON, so a corrupt or truncated file is reported as such.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from models.pickle_guard import PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES  # noqa: F401 - re-exported


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and what was expected."""


def refuse_unsafe(path: Path) -> None:
    """Raise for pickle formats and for anything that is not a safetensors file or a folder."""
    name = path.name.lower()
    if name.endswith(PICKLE_SUFFIXES):
        raise ModelFileError(
            f"{path.name}: refusing to load a pickle-based file ({path.suffix}). Loading pickles can run "
            f"arbitrary code hidden in the file, so Plexus reads weights from .safetensors only. "
            f"Download the .safetensors version of this model, or convert it in a sandbox you trust.")
    if path.is_dir():
        return
    if not name.endswith(SAFETENSORS_SUFFIXES):
        raise ModelFileError(f"{path.name}: unsupported model format {path.suffix!r}; expected a "
                             f".safetensors file or a diffusers/transformers model folder")


def read_header(path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """(tensor name -> {dtype, shape}, metadata) from a safetensors header, without reading weights."""
    refuse_unsafe(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            raw_length = handle.read(8)
            if len(raw_length) < 8:
                raise ModelFileError(f"{path.name}: file is empty or truncated; expected a safetensors file")
            (header_length,) = struct.unpack("<Q", raw_length)
            if header_length <= 0 or header_length > min(size - 8, 100 * 1024 * 1024):
                raise ModelFileError(f"{path.name}: not a valid safetensors file (bad header length); "
                                     f"the file is corrupt, truncated, or in another format")
            header = json.loads(handle.read(header_length))
    except OSError as error:
        raise ModelFileError(f"{path.name}: cannot read the file ({error})") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path.name}: not a valid safetensors file (unreadable header); "
                             f"the file is corrupt or in another format") from error
    if not isinstance(header, dict):
        raise ModelFileError(f"{path.name}: not a valid safetensors file (header is not a table)")
    metadata = header.pop("__metadata__", None) or {}
    data_end = 8 + header_length
    for name, info in header.items():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not offsets or data_end + offsets[1] > size:
            raise ModelFileError(f"{path.name}: tensor {name!r} lies past the end of the file; "
                                 f"the download is probably incomplete")
    return header, metadata


def load_tensors(path: Path, prefixes: tuple[str, ...] | None = None,
                 dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (only names starting with one of ``prefixes`` when given), cast
    to ``dtype`` except fp8 scales (see ``models/scaled_fp8.py``), which keep their precision."""
    from safetensors import safe_open

    from models.scaled_fp8 import is_scale_tensor

    read_header(path)  # validates and gives clear errors before safetensors' terse ones
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for name in handle.keys():
                if prefixes is None or name.startswith(prefixes):
                    tensor = handle.get_tensor(name)
                    if dtype is not None and tensor.is_floating_point() and not is_scale_tensor(name):
                        tensor = tensor.to(dtype)
                    tensors[name] = tensor
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise ModelFileError(f"{path.name}: could not read the tensors ({error}); the file is corrupt") from error
    return tensors


def file_identity(path: Path) -> str:
    """A cache key part that changes when the file (or folder) is replaced."""
    try:
        stat = path.stat()
    except OSError:
        return f"{path}|missing"
    return f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}"
