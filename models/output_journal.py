"""The output journal: history and disk agree after a crash.

A server's save nodes note every file they are about to publish (``note_output``, before the file
is created); when the queue has recorded a job's outcome, the files it noted that the outcome does
not list (a batch cut short, an error after some saves) are removed (``OutputJournal.settle``). At
start-up, what a ``kill -9`` left in the journal is settled against the jobs' recorded outputs:
files of a job that is re-queued (it will write them again) or was given up are removed
(``reconcile_outputs``).

One append-only file per server process, ``<user dir>/.plexus-writes/server-<pid>.jsonl``, one
``[prompt id, path]`` line per file, written with a single ``write`` on an ``O_APPEND`` descriptor
(in the kernel before the file exists, so it survives the process's death). The process remembers
its own notes, so settling reads nothing back, and the file is emptied whenever no job has notes
outstanding. Earlier Plexus versions wrote one file per job (named by the prompt id, one JSON path
per line); ``reconcile_outputs`` reads those too.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable

JOURNAL_FOLDER = ".plexus-writes"
_SERVER_FILE_SUFFIX = ".jsonl"


class OutputJournal:
    """The journal of one server process (thread-safe: every worker thread notes and settles)."""

    def __init__(self, user_dir: str | Path) -> None:
        self.folder = Path(user_dir) / JOURNAL_FOLDER
        self.path = self.folder / f"server-{os.getpid()}{_SERVER_FILE_SUFFIX}"
        self._lock = threading.Lock()
        self._fd: int | None = None  # opened at the first note: most servers' jobs save nothing
        self._outstanding: dict[str, list[str]] = {}  # prompt id -> paths noted, not yet settled
        self._written = False  # the file holds lines (emptied when nothing is outstanding)

    def note(self, prompt_id: str, path: str | Path) -> None:
        """Record that job ``prompt_id`` is about to create ``path``."""
        line = (json.dumps([prompt_id, os.fspath(path)]) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0),
                                   0o600)
            os.write(self._fd, line)
            self._written = True
            self._outstanding.setdefault(prompt_id, []).append(os.fspath(path))

    def noted(self, prompt_id: str) -> list[str]:
        """The paths noted for ``prompt_id`` and not settled yet."""
        with self._lock:
            return list(self._outstanding.get(prompt_id, ()))

    def settle(self, prompt_id: str, outputs: Any, folder_for_type: Callable[[str], Path | None]) -> list[Path]:
        """The job's outcome is recorded: remove the files it noted that its recorded ``outputs``
        (node id -> ui) do not list. Returns the removed files."""
        removed: list[Path] = []
        noted = self.noted(prompt_id)
        if noted:
            # Usually every noted file is listed under the very same name: no folder lookups then.
            listed = files_in_outputs(outputs, folder_for_type, resolved=False)
            unlisted = [path for path in noted if Path(path) not in listed]
            if unlisted:
                removed = remove_unrecorded(unlisted, files_in_outputs(outputs, folder_for_type))
        with self._lock:  # only once the files are gone: a crash before this leaves the notes for a restart
            self._outstanding.pop(prompt_id, None)
            if not self._outstanding and self._written and self._fd is not None:
                os.ftruncate(self._fd, 0)  # nothing outstanding: nothing for a restart to settle
                self._written = False
        return removed

    def close(self) -> None:
        """A clean shutdown: the file goes when nothing is outstanding (else a restart settles it)."""
        with self._lock:
            if self._fd is None:
                return
            os.close(self._fd)
            self._fd = None
            if not self._outstanding:
                self.path.unlink(missing_ok=True)


def note_output(services: Any, prompt_id: str, path: Path) -> None:
    """Note ``path`` in the server's journal (``services.output_journal``); nothing outside a server."""
    journal = getattr(services, "output_journal", None)
    if journal is not None:
        journal.note(prompt_id, path)


def write_noted(services: Any, path: str | Path, data: bytes) -> None:
    """Create ``path`` with ``data``, never replacing a file (FileExistsError), after ``note_output``:
    directly under its name when a server's journal lists it (a crash leaves a file the restart
    removes), else through a temporary name and a link (``models.safe_files``)."""
    from models.safe_files import write_atomically, write_new_file

    if getattr(services, "output_journal", None) is not None:
        write_new_file(path, data)
    else:
        write_atomically(Path(path), data, exclusive=True)


def remove_unrecorded(paths: list[str], recorded: set[Path]) -> list[Path]:
    """Remove each of ``paths`` that ``recorded`` does not list (links are never followed or removed)."""
    resolve = _resolver()
    removed: list[Path] = []
    for name in paths:
        path = Path(name)
        if resolve(path) not in recorded and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def reconcile_outputs(user_dir: str | Path, recorded_files: Callable[[str], set[Path] | None]) -> list[Path]:
    """At start-up, before any journal is open: settle every journal left against the jobs' recorded
    files (``recorded_files(prompt_id)``; None when it is not finished: re-queued jobs write again),
    then remove it. Reads the per-process files and the older per-job ones."""
    folder = Path(user_dir) / JOURNAL_FOLDER
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for journal in sorted(folder.iterdir()):
        try:
            text = journal.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        by_prompt: dict[str, list[str]] = {}
        per_process = journal.name.endswith(_SERVER_FILE_SUFFIX)
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the crash: its file was never created
            if per_process and isinstance(entry, list) and len(entry) == 2 and all(isinstance(e, str) for e in entry):
                by_prompt.setdefault(entry[0], []).append(entry[1])
            elif not per_process and isinstance(entry, str):
                by_prompt.setdefault(journal.name, []).append(entry)
        for prompt_id, paths in by_prompt.items():
            removed += remove_unrecorded(paths, recorded_files(prompt_id) or set())
        journal.unlink(missing_ok=True)
    return removed


def files_in_outputs(outputs: Any, folder_for_type: Callable[[str], Path | None], *,
                     resolved: bool = True) -> set[Path]:
    """The files a job's recorded outputs (node id -> ui) list as ``{filename, subfolder, type}``;
    their folders' real paths unless ``resolved`` is False (then as written)."""
    files: set[Path] = set()
    resolve = _resolver() if resolved else Path
    for ui in outputs.values() if isinstance(outputs, dict) else []:
        for items in ui.values() if isinstance(ui, dict) else []:
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    folder = folder_for_type(str(item.get("type") or "output"))
                    if folder is not None:
                        files.add(resolve(Path(folder) / str(item.get("subfolder") or "") / item["filename"]))
    return files


def _resolver() -> Callable[[str | Path], Path]:
    """``realpath`` of a file's folder (remembered: a batch shares one) joined with its name. The
    name itself is not followed, on both sides of every comparison (a link is never removed)."""
    folders: dict[str, str] = {}

    def resolve(path: str | Path) -> Path:
        folder, name = os.path.split(os.fspath(path))
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder)
        return Path(real, name)

    return resolve
