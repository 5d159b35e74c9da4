"""ComfyUI's ``folder_paths`` host module, mapped onto Plexus's ``services.paths`` (FolderPaths).

Module attributes that ComfyUI keeps as globals (``models_dir``, ``output_directory``,
``folder_names_and_paths``...) are computed from the live services on access.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import _plexus_binding as binding

supported_pt_extensions: set[str] = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
LEGACY_NAMES = {"unet": "diffusion_models", "clip": "text_encoders"}
# ComfyUI folders that Plexus itself does not use; registered so that packs can list them.
EXTRA_COMFY_FOLDERS: dict[str, set[str]] = {
    "upscale_models": supported_pt_extensions, "hypernetworks": supported_pt_extensions,
    "photomaker": supported_pt_extensions, "style_models": supported_pt_extensions,
    "gligen": supported_pt_extensions, "vae_approx": supported_pt_extensions,
    "diffusers": {"folder"}, "configs": {".yaml"}, "audio_encoders": supported_pt_extensions,
    "model_patches": supported_pt_extensions, "classifiers": {""},
}
_CONTENT_TYPES = {
    "image": {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"},
    "video": {".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif"},
    "audio": {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac"},
    "model": {".glb", ".gltf", ".obj", ".fbx", ".stl"},
}
_extensions = binding.folder_extensions  # extension filters that packs registered per folder kind


def _paths() -> Any:
    return binding.services().paths


def map_legacy(folder_name: str) -> str:
    return LEGACY_NAMES.get(folder_name, folder_name)


def register_comfy_folders() -> None:
    """Add ComfyUI's extra model kinds (``upscale_models``, ``configs``...) under ``models/``."""
    paths = _paths()
    for kind in EXTRA_COMFY_FOLDERS:
        if kind not in paths.model_folders:
            paths.add_model_folder(kind, paths.models_dir / kind)


class _FolderNamesAndPaths(MutableMapping):
    """``folder_names_and_paths``: kind -> ([folders], {extensions}), read and written through."""

    def __getitem__(self, kind: str) -> tuple[list[str], set[str]]:
        kind = map_legacy(kind)
        if kind == "custom_nodes":
            return [str(p) for p in _paths().custom_node_dirs], set()
        folders = _paths().model_folders.get(kind)
        if folders is None:
            raise KeyError(kind)
        return [str(p) for p in folders], _extensions_of(kind)

    def __setitem__(self, kind: str, value: Any) -> None:
        kind = map_legacy(kind)
        folders, extensions = (value if isinstance(value, (tuple, list)) and len(value) == 2
                               and isinstance(value[1], (set, frozenset, list, tuple)) else (value, None))
        folders = [folders] if isinstance(folders, (str, os.PathLike)) else list(folders)
        _paths().model_folders[kind] = [Path(f) for f in folders]
        if extensions is not None:
            _extensions[kind] = set(extensions)

    def __delitem__(self, kind: str) -> None:
        del _paths().model_folders[map_legacy(kind)]

    def __iter__(self) -> Iterator[str]:
        return iter(list(_paths().model_folders) + ["custom_nodes"])

    def __len__(self) -> int:
        return len(_paths().model_folders) + 1


def _extensions_of(kind: str) -> set[str]:
    return _extensions.get(kind) or EXTRA_COMFY_FOLDERS.get(kind) or set(supported_pt_extensions)


def __getattr__(name: str) -> Any:
    """The module-level folders ComfyUI exposes as globals."""
    if name == "folder_names_and_paths":
        return _FolderNamesAndPaths()
    paths = _paths()
    values = {"base_path": paths.base_dir, "models_dir": paths.models_dir, "output_directory": paths.output_dir,
              "input_directory": paths.input_dir, "temp_directory": paths.temp_dir,
              "user_directory": paths.user_dir}
    if name in values:
        return str(values[name])
    raise AttributeError(f"module 'folder_paths' has no attribute {name!r}")


# -- folders ---------------------------------------------------------------------------------------
def get_output_directory() -> str:
    return str(_paths().output_dir)


def get_input_directory() -> str:
    return str(_paths().input_dir)


def get_temp_directory() -> str:
    return str(_paths().temp_dir)


def get_user_directory() -> str:
    return str(_paths().user_dir)


def set_output_directory(folder: str) -> None:
    _paths().output_dir = Path(folder).resolve()


def set_input_directory(folder: str) -> None:
    _paths().input_dir = Path(folder).resolve()


def set_temp_directory(folder: str) -> None:
    _paths().temp_dir = Path(folder).resolve()


def get_directory_by_type(type_name: str) -> str | None:
    folder = _paths().folder_for_type(type_name)
    return str(folder) if folder is not None else None


def get_folder_paths(folder_name: str) -> list[str]:
    return [str(p) for p in _paths().model_folders.get(map_legacy(folder_name), [])]


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    _paths().add_model_folder(map_legacy(folder_name), Path(full_folder_path), first=is_default)


# -- model files -----------------------------------------------------------------------------------
def filter_files_extensions(files: list[str], extensions: set[str] | list[str]) -> list[str]:
    wanted = {e.lower() for e in extensions}
    if not wanted:
        return sorted(files)
    return sorted(f for f in files if os.path.splitext(f)[1].lower() in wanted)


def filter_files_content_types(files: list[str], content_types: list[str]) -> list[str]:
    wanted = set().union(*(_CONTENT_TYPES.get(t, set()) for t in content_types)) if content_types else set()
    return [f for f in files if os.path.splitext(f)[1].lower() in wanted]


def recursive_search(directory: str, excluded_dir_names: list[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """Files under ``directory`` (relative, posix) and the mtimes of the folders visited."""
    if not os.path.isdir(directory):
        return [], {}
    excluded = set(excluded_dir_names or [])
    files: list[str] = []
    folders: dict[str, float] = {directory: os.path.getmtime(directory)}
    for root, dirs, names in os.walk(directory, followlinks=True):
        dirs[:] = [d for d in dirs if d not in excluded and not d.startswith(".")]
        for name in names:
            files.append(os.path.relpath(os.path.join(root, name), directory).replace(os.sep, "/"))
        for d in dirs:
            path = os.path.join(root, d)
            folders[path] = os.path.getmtime(path)
    return files, folders


def get_filename_list(folder_name: str) -> list[str]:
    """Model names of a kind, relative to their folder. Plexus's own kinds include model folders
    (diffusers/transformers layouts); kinds with an extension filter list matching files only."""
    kind = map_legacy(folder_name)
    paths = _paths()
    extensions = _extensions.get(kind) or EXTRA_COMFY_FOLDERS.get(kind)
    if extensions is None:
        return list(paths.list_models(kind))
    extensions = set(extensions) - {"folder", ""}
    names: set[str] = set()
    for folder in paths.model_folders.get(kind, []):
        files, _ = recursive_search(str(folder))
        names.update(filter_files_extensions(files, extensions) if extensions else files)
    return sorted(names)


def get_full_path(folder_name: str, filename: str) -> str | None:
    path = _paths().model_path(map_legacy(folder_name), filename)
    return str(path) if path is not None else None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    path = get_full_path(folder_name, filename)
    if path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return path


# -- annotated names and saving ----------------------------------------------------------------------
def annotated_filepath(name: str) -> tuple[str, str | None]:
    for kind in ("output", "input", "temp"):
        suffix = f" [{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], get_directory_by_type(kind)
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    """``"x.png [output]"`` style names; confined to their folder (no ``..`` escapes)."""
    from models.folders import confined

    plain, folder = annotated_filepath(name)
    if folder is None:
        folder = default_dir or get_input_directory()
    return str(confined(Path(folder), plain))


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.exists(get_annotated_filepath(name))
    except ValueError:
        return False


def get_input_subfolders() -> list[str]:
    root = _paths().input_dir
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()) if root.is_dir() else []


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0,
                        image_height: int = 0) -> tuple[str, str, int, str, str]:
    """``(full_output_folder, filename, counter, subfolder, filename_prefix)``; files are named
    ``f"{filename}_{counter:05}_.png"``. ``%width%``, ``%height%``, ``%year%``... are expanded."""
    now = time.localtime()
    for token, value in (("%width%", image_width), ("%height%", image_height), ("%year%", now.tm_year),
                         ("%month%", f"{now.tm_mon:02}"), ("%day%", f"{now.tm_mday:02}"),
                         ("%hour%", f"{now.tm_hour:02}"), ("%minute%", f"{now.tm_min:02}"),
                         ("%second%", f"{now.tm_sec:02}")):
        filename_prefix = filename_prefix.replace(token, str(value))
    folder, stem, counter, subfolder = _paths().save_path(filename_prefix, root=Path(output_dir))
    return str(folder), stem, counter, subfolder, filename_prefix
