"""Running a coroutine to completion from synchronous code, whatever this thread is doing."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable


def run_blocking(make_coroutine: Callable[[], Awaitable[Any]]) -> Any:
    """``asyncio.run`` here, or on a fresh thread when this thread already runs an event loop
    (async callers, notebooks, Playwright's sync API), where ``asyncio.run`` would refuse."""
    async def wait() -> Any:
        return await make_coroutine()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(wait())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
