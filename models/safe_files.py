"""Writing files under output/, temp/, input/ and user/ safely, and what a crash leaves behind.

- :func:`write_atomically`: the data goes to a temporary file with an unpredictable name, created
  with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (as ``tempfile.mkstemp`` does) in the target's folder, then renamed
  over the target: a planted symlink is replaced, never followed, and a crash never leaves half a
  file under the real name. The file is created with mode 0666 less the user's umask, as any
  ``open()`` does (``mkstemp`` would leave it 0600).
  ``exclusive=True`` never replaces an existing file (a hard link, then the temp name goes).
- :func:`write_new_file`: the same guarantees without the temporary name, for files the output
  journal lists before they are created (a server's save nodes).
- :func:`remove_stale_partials`: the temporary files a ``kill -9`` left, removed at start-up.
- The **output journal**: a save node notes every file it is about to publish in
  ``<user dir>/.plexus-writes/<prompt id>``; at start-up, files of a job whose recorded outputs do
  not list them (it crashed and is re-queued, or was given up) are removed, so history and disk
  agree.
- :func:`check_pixel_budget`: frames x width x height of an opened image against a budget, before
  anything is decoded (a 0.66 MB PNG can decode into gigabytes).
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Callable, Iterable

PARTIAL_PREFIX = ".plexus-partial-"
# Older names of temporary files, also cleaned up: SaveImage's, uploads', user files', SaveText's.
STALE_PREFIXES = (PARTIAL_PREFIX, ".partial-", ".upload-", ".tmp-")
JOURNAL_FOLDER = ".plexus-writes"


class PixelBudgetExceeded(ValueError):
    """An image whose decoded size would pass the configured pixel budget."""


def write_atomically(target: Path, data: bytes | Callable[[Any], None], *, exclusive: bool = False) -> None:
    """Write ``data`` (bytes, or a function writing to a binary file) to ``target`` atomically.
    Raises FileExistsError with ``exclusive`` when ``target`` exists."""
    target = Path(target)
    handle, temp_name = _create_partial(target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(data):
                data(stream)
            else:
                stream.write(data)
        if exclusive:
            os.link(temp_name, target, follow_symlinks=False)  # fails if anything is there, links too
            os.unlink(temp_name)
        else:
            os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_new_file(target: str | Path, data: bytes) -> None:
    """Create ``target`` (``O_EXCL|O_NOFOLLOW``: never an existing file, never through a link; mode
    0666 less the umask) and write ``data``: one new inode instead of a temporary file, a link and an
    unlink. Only for a file the output journal already lists (``note_output``): a crash mid-write
    leaves a partial file under the real name, which the start-up reconciliation removes. Raises
    FileExistsError when ``target`` exists."""
    handle = os.open(target, _CREATE_FLAGS | getattr(os, "O_BINARY", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view):]
    except BaseException:
        os.close(handle)
        os.unlink(target)  # ours: created by the O_EXCL open above
        raise
    os.close(handle)


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create_partial(folder: Path) -> tuple[int, str]:
    """A new file with an unpredictable name in ``folder``, as ``mkstemp`` makes one, but with mode
    0666 so that the kernel applies the umask (no umask read and ``fchmod`` per file)."""
    for _ in range(100):
        name = os.path.join(folder, f"{PARTIAL_PREFIX}{secrets.token_hex(8)}")
        try:
            return os.open(name, _CREATE_FLAGS | getattr(os, "O_BINARY", 0), 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def remove_stale_partials(folders: Iterable[Path], older_than: float) -> int:
    """Delete temporary files left by a crash (modified before ``older_than``); returns how many."""
    removed = 0
    for folder in folders:
        for directory, _, files in os.walk(folder):
            for name in files:
                if not (name.startswith(STALE_PREFIXES) or (name.startswith(".") and name.endswith(".tmp"))):
                    continue
                path = os.path.join(directory, name)
                try:
                    if os.lstat(path).st_mtime < older_than:
                        os.unlink(path)
                        removed += 1
                except OSError:
                    pass
    return removed


# -- the output journal --------------------------------------------------------------------------
def journal_path(user_dir: Path, prompt_id: str) -> Path:
    return Path(_journal_file(user_dir, prompt_id))


def _journal_file(user_dir: str | Path, prompt_id: str) -> str:
    if _PLAIN_NAME.fullmatch(prompt_id):  # the usual uuid: no per-character rewrite
        safe = prompt_id
    else:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in prompt_id)[:200] or "_"
    return os.path.join(user_dir, JOURNAL_FOLDER, safe)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def note_output(services: Any, prompt_id: str, path: Path) -> None:
    """Record that job ``prompt_id`` is about to publish ``path`` (called before the rename); only
    for a server's jobs (``services.journal_outputs``), whose outcome the queue records."""
    if not getattr(services, "journal_outputs", False):
        return
    journal = journal_path(services.paths.user_dir, prompt_id)
    line = json.dumps(str(path)) + "\n"
    try:
        handle = open(journal, "a", encoding="utf-8")
    except FileNotFoundError:  # the first note ever: the folder is made once, not per file
        journal.parent.mkdir(parents=True, exist_ok=True)
        handle = open(journal, "a", encoding="utf-8")
    with handle:
        handle.write(line)


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


def files_in_outputs(outputs: Any, folder_for_type: Callable[[str], Path | None]) -> set[Path]:
    """The files a job's recorded outputs (node id -> ui) list as ``{filename, subfolder, type}``."""
    files: set[Path] = set()
    resolve = _resolver()
    for ui in outputs.values() if isinstance(outputs, dict) else []:
        for items in ui.values() if isinstance(ui, dict) else []:
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    folder = folder_for_type(str(item.get("type") or "output"))
                    if folder is not None:
                        files.add(resolve(Path(folder) / str(item.get("subfolder") or "") / item["filename"]))
    return files


def settle_outputs(user_dir: Path, prompt_id: str,
                   recorded: set[Path] | Callable[[], set[Path]]) -> list[Path]:
    """A job's outcome is recorded: remove the files its journal lists that the outcome does not
    (an earlier, crashed attempt's; a batch cut short), then the journal. Returns the removed.
    ``recorded`` may be a function, called only when the job has a journal (most jobs write no file)."""
    journal = _journal_file(user_dir, prompt_id)
    removed: list[Path] = []
    try:
        with open(journal, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return removed
    if callable(recorded):
        recorded = recorded()
    resolve = _resolver()
    for line in lines:
        try:
            path = Path(json.loads(line))
        except ValueError:
            continue  # a line cut short by the crash: its rename never happened
        if resolve(path) not in recorded and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    Path(journal).unlink(missing_ok=True)
    return removed


def reconcile_outputs(user_dir: Path, recorded_files: Callable[[str], set[Path] | None]) -> list[Path]:
    """At start-up, for every journal left: ``settle_outputs`` against the job's recorded files
    (``recorded_files(prompt_id)``; None when it is not finished: re-queued jobs write again)."""
    folder = Path(user_dir) / JOURNAL_FOLDER
    removed: list[Path] = []
    if folder.is_dir():
        for journal in folder.iterdir():
            removed += settle_outputs(user_dir, journal.name, recorded_files(journal.name) or set())
    return removed


# -- decoded-size budget -----------------------------------------------------------------------
def check_pixel_budget(image: Any, budget: int | None, what: str = "image", frames: int | None = None) -> None:
    """Refuse an opened (not yet decoded) PIL image whose frames x width x height pass ``budget``."""
    if not budget:
        return
    width, height = image.size
    count = frames if frames is not None else int(getattr(image, "n_frames", 1) or 1)
    pixels = count * width * height
    if pixels > budget:
        raise PixelBudgetExceeded(
            f"{what} is too large to decode: {count} frame(s) of {width}x{height} = {pixels:,} pixels; "
            f"the budget is {budget:,} (--max-image-pixels)")
