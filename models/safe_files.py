"""Writing files under output/, temp/, input/ and user/ safely, and what a crash leaves behind.

- :func:`write_atomically`: the data goes to a temporary file with an unpredictable name, created
  with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (as ``tempfile.mkstemp`` does) in the target's folder, then renamed
  over the target: a planted symlink is replaced, never followed, and a crash never leaves half a
  file under the real name. The file is created with mode 0666 less the user's umask, as any
  ``open()`` does (``mkstemp`` would leave it 0600).
  ``exclusive=True`` never replaces an existing file (a hard link, then the temp name goes).
- :func:`write_creating_folders`: ``write_atomically`` after creating the missing folders (uploads,
  user files); :class:`BlockedPath` when a file stands where a folder must be (or a folder where the
  file would go), which a client can cause and must get a clear error for.
- :func:`write_new_file`: the same guarantees without the temporary name, for files the output
  journal lists before they are created (a server's save nodes).
- :func:`remove_stale_partials`: the temporary files a ``kill -9`` left, removed at start-up.
- The output journal that lets a server's saves skip the temporary name is ``models.output_journal``.
- :func:`check_pixel_budget`: frames x width x height of an opened image against a budget, before
  anything is decoded (a 0.66 MB PNG can decode into gigabytes).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Callable, Iterable

PARTIAL_PREFIX = ".plexus-partial-"
# Older names of temporary files, also cleaned up: SaveImage's, uploads', user files', SaveText's.
STALE_PREFIXES = (PARTIAL_PREFIX, ".partial-", ".upload-", ".tmp-")


class PixelBudgetExceeded(ValueError):
    """An image whose decoded size would pass the configured pixel budget."""


class BlockedPath(ValueError):
    """A file stands where a folder must be created, or a folder where a file would be written."""


def make_folders(folder: Path) -> None:
    """``folder`` and its missing parents; BlockedPath when a file is in the way."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise BlockedPath(f"a file is in the way of the folder {Path(exc.filename or folder).name!r}") from exc


def write_creating_folders(target: Path, data: bytes) -> None:
    """``write_atomically`` after ``make_folders(target.parent)``; BlockedPath when a file is in the
    way of a folder or a folder has the target's name."""
    target = Path(target)
    make_folders(target.parent)
    try:
        write_atomically(target, data)
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise BlockedPath(f"{target.name!r} is a folder, not a file") from exc


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
    unlink. Only for a file the output journal already lists (``models.output_journal``): a crash mid-write
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
