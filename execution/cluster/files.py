"""Output files of a remote worker, shipped back to the API server (the default cluster mode).

A worker actor runs with private ``output``/``temp``/``input`` folders. Every file a node
reports in its ui (``{"filename", "subfolder", "type": "output"|"temp"}``, as SaveImage and
PreviewImage do) is read on the actor, sent back with the ``executed`` event that names it, and
written here into the server's folder of the same type under the same subfolder and name, before
the event reaches the clients (so ``/view`` finds it). Files the job created without naming them
in a ui follow with the job's result.

Names: the actor's folders start empty for each job, so its counters restart at ``_00001_``. A
name already taken on the server gets the next free counter, exactly as a save in this process
would have chosen it (``<stem>_<NNNNN>_.<ext>``); the ui is rewritten to match. Writes are atomic
(a temporary file, then a no-clobber hard link or a rename under the writer's lock).

Stdlib only: this module is imported by the server (``ray_backend``) and by the actor.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

SHIPPED_TYPES = ("output", "temp")
_COUNTER_NAME = re.compile(r"^(?P<stem>.*)_(?P<counter>\d+)(?P<tail>_?\.[^/]*)$")


@dataclass(frozen=True)
class ShippedFile:
    """One file produced on a worker: where it belongs on the server, and its bytes."""

    kind: str  # output | temp
    subfolder: str
    filename: str
    data: bytes

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.subfolder, self.filename)


def file_refs(value: Any) -> Iterator[dict]:
    """Every ``{"filename", "type", ...}`` dict inside a ui value (lists and dicts, any depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("filename"), str) and item.get("type") in SHIPPED_TYPES:
                yield item
            else:
                stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it stays inside ``root`` (a worker's names are not trusted blindly)."""
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / relative))
    if target == root_real or root_real in target.parents:
        return target
    return None


# -- actor side -----------------------------------------------------------------------------------
class OutputCollector:
    """Reads the files a job produced in the actor's private folders, each once."""

    def __init__(self, roots: dict[str, Path], max_bytes: int = 2 * 1024 ** 3) -> None:
        self.roots = roots  # kind -> private folder
        self.max_bytes = max_bytes
        self._shipped: set[tuple[str, str, str]] = set()

    def reset(self) -> None:
        """Start a job: empty the private output/temp folders, so nothing old is shipped."""
        self._shipped.clear()
        for kind in SHIPPED_TYPES:
            root = self.roots[kind]
            for path in sorted(root.rglob("*"), reverse=True):
                try:
                    path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
                except OSError:
                    pass

    def mark_present(self, files: list[ShippedFile]) -> None:
        """Files placed in the private folders before the job (inputs): never shipped back."""
        self._shipped.update(f.key for f in files)

    def for_ui(self, ui: Any) -> list[ShippedFile]:
        """The files a node's ui names (read now, before a later node could change them)."""
        files = []
        for ref in file_refs(ui):
            shipped = self._read(ref["type"], str(ref.get("subfolder") or ""), ref["filename"])
            if shipped is not None:
                files.append(shipped)
        return files

    def leftovers(self) -> list[ShippedFile]:
        """Files the job wrote without naming them in a ui."""
        files = []
        for kind in SHIPPED_TYPES:
            root = self.roots[kind]
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    relative = path.relative_to(root)
                    subfolder = relative.parent.as_posix()
                    shipped = self._read(kind, "" if subfolder == "." else subfolder, relative.name)
                    if shipped is not None:
                        files.append(shipped)
        return files

    def _read(self, kind: str, subfolder: str, filename: str) -> ShippedFile | None:
        key = (kind, subfolder, filename)
        if key in self._shipped:
            return None
        path = inside(self.roots[kind], f"{subfolder}/{filename}" if subfolder else filename)
        if path is None or not path.is_file() or path.stat().st_size > self.max_bytes:
            return None
        self._shipped.add(key)
        return ShippedFile(kind, subfolder, filename, path.read_bytes())


# -- server side ----------------------------------------------------------------------------------
class OutputWriter:
    """Writes shipped files into the server's folders; shared by all the cluster's workers."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = roots  # kind -> the server's folder
        self._lock = threading.Lock()

    def write(self, files: list[ShippedFile], written: list[Path] | None = None) -> dict[tuple[str, str, str], str]:
        """Write each file; returns ``{(kind, subfolder, old name): new name}`` for renamed ones.
        ``written`` collects the paths, so an attempt that dies can take its files back."""
        renamed: dict[tuple[str, str, str], str] = {}
        for shipped in files:
            root = self.roots.get(shipped.kind)
            folder = inside(root, shipped.subfolder) if root is not None else None
            if folder is None or "/" in shipped.filename or shipped.filename in ("", ".", ".."):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            name = self._write_new(folder, shipped.filename, shipped.data)
            if written is not None:
                written.append(folder / name)
            if name != shipped.filename:
                renamed[shipped.key] = name
        return renamed

    def _write_new(self, folder: Path, filename: str, data: bytes) -> str:
        partial = folder / f".{filename}.{uuid.uuid4().hex[:8]}.partial"
        partial.write_bytes(data)
        try:
            with self._lock:
                name = filename
                while True:
                    target = folder / name
                    try:
                        os.link(partial, target)  # atomic, and never replaces an existing file
                        return name
                    except FileExistsError:
                        name = _next_free_name(folder, name)
                    except OSError:  # no hard links on this filesystem: check, then rename
                        if target.exists():
                            name = _next_free_name(folder, name)
                            continue
                        os.replace(partial, target)
                        return name
        finally:
            partial.unlink(missing_ok=True)


def _next_free_name(folder: Path, name: str) -> str:
    """``stem_<highest+1>_.ext`` like a local save; ``name (2)``-style for other names."""
    match = _COUNTER_NAME.match(name)
    if match:
        stem, width, tail = match["stem"], len(match["counter"]), match["tail"]
        pattern = re.compile(rf"^{re.escape(stem)}_(\d+)_?\.")
        highest = max((int(m.group(1)) for entry in os.scandir(folder) if (m := pattern.match(entry.name))),
                      default=0)
        return f"{stem}_{highest + 1:0{width}d}{tail}"
    base, dot, ext = name.rpartition(".")
    base, ext = (base, dot + ext) if base else (name, "")
    index = 2
    while (folder / f"{base} ({index}){ext}").exists():
        index += 1
    return f"{base} ({index}){ext}"


def rename_refs(value: Any, renamed: dict[tuple[str, str, str], str]) -> None:
    """Rewrite the file names inside a ui value (in place) after the writer renamed some."""
    if not renamed:
        return
    for ref in file_refs(value):
        key = (ref["type"], str(ref.get("subfolder") or ""), ref["filename"])
        if key in renamed:
            ref["filename"] = renamed[key]


# -- inputs (server -> actor) ---------------------------------------------------------------------
_ANNOTATION = re.compile(r"^(.*) \[(input|output|temp)\]$")


def referenced_inputs(prompt: dict, roots: dict[str, Path], max_bytes: int = 512 * 1024 ** 2
                      ) -> list[ShippedFile]:
    """Files of the server's input folder named by the prompt's string inputs (LoadImage's ``image``)."""
    files: dict[tuple[str, str, str], ShippedFile] = {}
    total = 0
    for node in prompt.values():
        inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
        for value in inputs.values():
            if not isinstance(value, str) or not value or len(value) > 1024:
                continue
            match = _ANNOTATION.match(value)
            name, kind = (match.group(1), match.group(2)) if match else (value, "input")
            root = roots.get(kind)
            if root is None:
                continue
            path = inside(root, name)
            if path is None or not path.is_file():
                continue
            relative = Path(name)
            subfolder = relative.parent.as_posix()
            shipped = ShippedFile(kind, "" if subfolder == "." else subfolder, relative.name, b"")
            if shipped.key in files:
                continue
            size = path.stat().st_size
            if total + size > max_bytes:
                continue
            total += size
            files[shipped.key] = ShippedFile(shipped.kind, shipped.subfolder, shipped.filename, path.read_bytes())
    return list(files.values())


def place_inputs(files: list[ShippedFile], roots: dict[str, Path]) -> None:
    """On the actor: put the shipped input files into its private folders (overwriting)."""
    for shipped in files:
        root = roots.get(shipped.kind)
        relative = f"{shipped.subfolder}/{shipped.filename}" if shipped.subfolder else shipped.filename
        target = inside(root, relative) if root is not None else None
        if target is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
        partial.write_bytes(shipped.data)
        os.replace(partial, target)
