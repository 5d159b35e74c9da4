"""Model, input, output, temp and user folders (ComfyUI's names), and safe paths inside them.

No torch here: the server lists models and serves files without loading any framework.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger("plexus.models")

# kind -> the folder names under models/ that feed it (the first one is where new files go).
MODEL_KINDS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "diffusion_models": ("diffusion_models", "unet"),
    "text_encoders": ("text_encoders", "clip"),
    "vae": ("vae",),
    "controlnet": ("controlnet",),
    "clip_vision": ("clip_vision",),
    "ipadapter": ("ipadapter",),
    "vlm": ("vlm",),
    "retrieval": ("retrieval",),
    "clip_models": ("clip_models",),  # full CLIP models (both towers) for zero-shot scoring
    "loras": ("loras",),
    "embeddings": ("embeddings",),
}
KIND_ALIASES = {"unet": "diffusion_models", "clip": "text_encoders"}  # ComfyUI's folder_paths names
MODEL_FILE_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
# A folder holding one of these is one model (a diffusers pipeline or component, a transformers model).
MODEL_FOLDER_MARKERS = ("model_index.json", "config.json")


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


class ModelListing:
    """A combo's choices: the models of one kind. Validation asks it where a missing model belongs."""

    def __init__(self, kind: str):
        self.kind = KIND_ALIASES.get(kind, kind)

    def __call__(self, services) -> list[str]:
        return services.paths.list_models(self.kind)

    def missing_hint(self, services) -> str:
        folders = [str(folder) for folder in services.paths.model_folders.get(self.kind, [])]
        if not folders:
            return f"no folder is configured for {self.kind} models"
        searched = f" (searched: {', '.join(folders)})" if len(folders) > 1 else ""
        return f"put the {self.kind} model in {folders[0]}/{searched}"


class UnsafePath(ValueError):
    """A path that would leave its folder (``..``, absolute, NUL, a symlink pointing out)."""


MAX_SAVE_SLOTS = 4096  # remembered (root, prefix) counters of FolderPaths.save_slot
MAX_NAME_BYTES = 255  # per path component, as file systems allow
MAX_PATH_BYTES = 4096


def confined(root: Path, relative: str) -> Path:
    """``root/relative`` with symlinks resolved, refused if it leaves ``root``."""
    if "\x00" in relative:
        raise UnsafePath("NUL byte in path")
    try:
        encoded = os.fsencode(relative)
    except UnicodeError as exc:
        raise UnsafePath("path is not valid text") from exc
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise UnsafePath(f"path or name too long (names up to {MAX_NAME_BYTES} bytes)")
    if os.path.isabs(relative) or relative.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", relative):
        raise UnsafePath("absolute paths are not allowed")
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / relative))
    if target != root_real and root_real not in target.parents:
        raise UnsafePath(f"{relative!r} leaves its folder")
    return target


@dataclass
class FolderPaths:
    base_dir: Path
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    user_dir: Path
    models_dir: Path
    model_folders: dict[str, list[Path]] = field(default_factory=dict)
    custom_node_dirs: list[Path] = field(default_factory=list)
    _listing_cache: dict[str, tuple[tuple, list[str]]] = field(default_factory=dict, repr=False)
    # (root, prefix) -> (folder, stem, next counter, subfolder): see save_slot
    _save_slots: dict[tuple[str, str], tuple[Path, str, int, str]] = field(default_factory=dict, repr=False)
    _save_slots_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, base_dir: str | Path, *, input_dir: str | Path | None = None,
               output_dir: str | Path | None = None, temp_dir: str | Path | None = None,
               user_dir: str | Path | None = None, models_dir: str | Path | None = None) -> "FolderPaths":
        base = Path(base_dir).resolve()
        paths = cls(
            base_dir=base,
            input_dir=Path(input_dir or base / "input").resolve(),
            output_dir=Path(output_dir or base / "output").resolve(),
            temp_dir=Path(temp_dir or base / "temp").resolve(),
            user_dir=Path(user_dir or base / "user").resolve(),
            models_dir=Path(models_dir or base / "models").resolve(),
            custom_node_dirs=[base / "custom_nodes"],
        )
        for kind, names in MODEL_KINDS.items():
            paths.model_folders[kind] = [paths.models_dir / name for name in names]
        return paths

    def ensure_dirs(self) -> None:
        # The default custom-nodes folder is created like the others (a ComfyUI install always has
        # one), so the loader's missing-folder warning is left for folders a user named.
        default_custom_nodes = self.base_dir / "custom_nodes"
        for folder in (self.input_dir, self.output_dir, self.temp_dir, self.user_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if default_custom_nodes in self.custom_node_dirs:
            default_custom_nodes.mkdir(parents=True, exist_ok=True)

    def folder_for_type(self, kind: str) -> Path | None:
        """The folder of a ``/view``-style ``type``: output, input or temp."""
        return {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}.get(kind)

    # -- extra_model_paths.yaml -------------------------------------------------------------------
    def add_model_folder(self, kind: str, folder: str | Path, *, first: bool = False) -> None:
        kind = KIND_ALIASES.get(kind, kind)
        folders = self.model_folders.setdefault(kind, [])
        path = Path(folder)
        if path in folders:
            return
        folders.insert(0, path) if first else folders.append(path)
        self._listing_cache.pop(kind, None)

    def load_extra_model_paths(self, config_file: str | Path) -> list[str]:
        """ComfyUI's ``extra_model_paths.yaml``: sections of ``kind: folder(s)`` with a ``base_path``.

        As in ComfyUI, a relative ``base_path`` and, without a ``base_path``, every relative folder
        are taken from the yaml's own folder (made absolute once). Returns a warning for each
        configured folder that does not exist (also logged): such folders are kept, not dropped.
        """
        config_path = Path(os.path.abspath(os.path.expanduser(str(config_file))))
        yaml_dir = config_path.parent
        data = yaml.safe_load(config_path.read_text()) or {}
        warnings: list[str] = []
        for section_name, section in data.items():
            if not isinstance(section, dict):
                continue
            base: Path | None = None
            if section.get("base_path"):
                base = Path(_expand(str(section["base_path"])))
                if not base.is_absolute():
                    base = Path(os.path.abspath(yaml_dir / base))
            for key, value in section.items():
                if key in ("base_path", "is_default") or value is None:
                    continue
                for line in str(value).splitlines():
                    line = line.strip()
                    if not line:
                        continue
                    full = Path(_expand(line))
                    if not full.is_absolute():
                        full = (base or yaml_dir) / full
                    full = Path(os.path.normpath(full))
                    if not full.is_dir():
                        warnings.append(f"{config_path}: [{section_name}] {key}: folder {full} does not exist")
                        log.warning("%s", warnings[-1])
                    if key == "custom_nodes":
                        if full not in self.custom_node_dirs:
                            self.custom_node_dirs.append(full)
                    else:
                        self.add_model_folder(key, full, first=bool(section.get("is_default")))
        return warnings

    # -- listings ---------------------------------------------------------------------------------
    def list_models(self, kind: str) -> list[str]:
        """Model files and model folders of a kind, as relative names; refreshed when a folder changes."""
        kind = KIND_ALIASES.get(kind, kind)
        folders = self.model_folders.get(kind, [])
        stamp = tuple(_tree_stamp(folder) for folder in folders)
        cached = self._listing_cache.get(kind)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        names: set[str] = set()
        for folder in folders:
            names.update(_scan_models(folder))
        listing = sorted(names)
        self._listing_cache[kind] = (stamp, listing)
        return listing

    def model_path(self, kind: str, name: str) -> Path | None:
        """Where a listed model lives, or None."""
        kind = KIND_ALIASES.get(kind, kind)
        for folder in self.model_folders.get(kind, []):
            try:
                candidate = confined(folder, name)
            except UnsafePath:
                continue
            if candidate.exists():
                return candidate
        return None

    def list_input_files(self) -> list[str]:
        files = []
        if self.input_dir.is_dir():
            for path in sorted(self.input_dir.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    files.append(path.relative_to(self.input_dir).as_posix())
        return files

    def annotated_path(self, name: str, default_kind: str = "input") -> Path:
        """``"file.png [output]"``-style names, confined to their folder."""
        kind = default_kind
        match = re.match(r"^(.*) \[(input|output|temp)\]$", name)
        if match:
            name, kind = match.group(1), match.group(2)
        return confined(self.folder_for_type(kind), name)

    def save_path(self, filename_prefix: str, root: Path | None = None) -> tuple[Path, str, int, str]:
        """(folder, file stem, next counter, subfolder) for ``<prefix>_<00001>_.png`` naming.

        The counter is one above the highest existing one; the prefix may name subfolders but
        stays inside the output folder.
        """
        root = root or self.output_dir
        prefix = filename_prefix.replace("\\", "/").strip() or "Plexus"
        subfolder, _, stem = prefix.rpartition("/")
        folder = confined(root, subfolder) if subfolder else Path(os.path.realpath(root))
        if not stem or stem in (".", ".."):
            raise UnsafePath(f"bad filename prefix {filename_prefix!r}")
        folder.mkdir(parents=True, exist_ok=True)
        pattern = re.compile(rf"^{re.escape(stem)}_(\d+)_?\.")
        highest = 0
        for entry in os.scandir(folder):
            found = pattern.match(entry.name)
            if found:
                highest = max(highest, int(found.group(1)))
        relative_sub = folder.relative_to(Path(os.path.realpath(root))).as_posix()
        return folder, stem, highest + 1, "" if relative_sub == "." else relative_sub

    def save_slot(self, filename_prefix: str, root: Path | None = None) -> tuple[Path, str, int, str]:
        """:meth:`save_path` for savers that create their files exclusively (``O_EXCL``, a taken
        name bumps the counter) and report with :meth:`saved`: the folder is resolved and scanned
        once per (root, prefix), then the next counter comes from memory. Files other writers add
        meanwhile are skipped by the exclusive create, never overwritten."""
        key = (str(root or self.output_dir), filename_prefix)
        with self._save_slots_lock:
            slot = self._save_slots.get(key)
        return slot if slot is not None else self.save_path(filename_prefix, root)

    def saved(self, filename_prefix: str, root: Path | None, slot: tuple[Path, str, int, str],
              next_counter: int) -> None:
        """Counters below ``next_counter`` are taken: the next :meth:`save_slot` starts there."""
        key = (str(root or self.output_dir), filename_prefix)
        with self._save_slots_lock:
            known = self._save_slots.get(key)
            if known is None or known[2] < next_counter:
                if len(self._save_slots) >= MAX_SAVE_SLOTS:
                    self._save_slots.clear()  # many one-off prefixes: forget them (rescanned if used again)
                self._save_slots[key] = (slot[0], slot[1], next_counter, slot[3])

    def forget_save_slot(self, filename_prefix: str, root: Path | None = None) -> None:
        """The remembered folder went away (deleted meanwhile): resolve and scan again next time."""
        with self._save_slots_lock:
            self._save_slots.pop((str(root or self.output_dir), filename_prefix), None)


def _tree_stamp(folder: Path) -> tuple:
    try:
        stat = folder.stat()
    except OSError:
        return (str(folder), 0)
    stamps = [str(folder), stat.st_mtime_ns]
    for entry in os.scandir(folder):  # one level down: new files in subfolders count too
        if entry.is_dir():
            stamps.append(entry.stat().st_mtime_ns)
    return tuple(stamps)


def _scan_models(folder: Path) -> list[str]:
    found: list[str] = []
    if not folder.is_dir():
        return found
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        if current != folder and any(e.name in MODEL_FOLDER_MARKERS for e in entries):
            found.append(Path(current).relative_to(folder).as_posix())
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                stack.append(Path(entry.path))
            elif entry.name.lower().endswith(MODEL_FILE_SUFFIXES):
                found.append(Path(entry.path).relative_to(folder).as_posix())
    return found
