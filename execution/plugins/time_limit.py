"""Importing a pack with a time limit: a pack that hangs at import (a network call, a lock) must not
hang start-up. The import runs in a helper thread; after the limit the loader reports the pack and
goes on. Python cannot stop a thread, so a stuck import is left behind (a daemon thread)."""
from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any


class PackImportTimeout(TimeoutError):
    """A pack's import did not finish within the time limit."""


def run_with_time_limit(fn: Any, seconds: float | None, loop: Any, pack_name: str) -> Any:
    """``fn()`` in a helper thread (with the server's event loop as its current loop, as packs
    expect at import); raises :class:`PackImportTimeout` after ``seconds`` (None or 0: no limit)."""
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def run() -> None:
        if loop is not None:
            asyncio.set_event_loop(loop)
        try:
            outcome["value"] = context.run(fn)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the loader's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name=f"import {pack_name}", daemon=True)
    worker.start()
    worker.join(seconds or None)
    if worker.is_alive():
        raise PackImportTimeout(f"custom node pack {pack_name!r} did not finish importing within {seconds:g} s "
                                "(--custom-node-import-timeout); it was skipped")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
