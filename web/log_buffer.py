"""The server's recent console output, for ``/internal/logs`` and the websocket ``logs`` event.

While the server runs, writes to stdout and stderr still reach the terminal and are also kept
(the last 300 writes, with their time). Clients that subscribed get each batch of new entries as
``{"type": "logs", "data": {"entries": [{"t", "m"}], "size": {"cols", "rows"}}}``.
"""
from __future__ import annotations

import collections
import datetime
import shutil
import sys
import threading
from typing import Callable, TextIO

MAX_ENTRIES = 300


class _Tee:
    """A text stream that writes through to ``stream`` and reports every write."""

    def __init__(self, stream: TextIO, record: Callable[[str], None]) -> None:
        self._stream = stream
        self._record = record

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if text:
            self._record(text)
        return written

    def __getattr__(self, name: str):  # flush, fileno, isatty, encoding...
        return getattr(self._stream, name)


class LogBuffer:
    def __init__(self, notify: Callable[[list[dict]], None] | None = None, max_entries: int = MAX_ENTRIES) -> None:
        self.entries: collections.deque[dict] = collections.deque(maxlen=max_entries)
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._notify = notify  # called (from any thread) when new entries wait to be flushed
        self.subscribers: set[str] = set()

    def record(self, text: str) -> None:
        entry = {"t": datetime.datetime.now().isoformat(), "m": text}
        with self._lock:
            self.entries.append(entry)
            if not self.subscribers:
                return
            first = not self._pending  # one flush per batch
            self._pending.append(entry)
            subscribers = list(self.subscribers)
        if first and self._notify is not None:
            try:
                self._notify(subscribers)
            except RuntimeError:  # the server's loop is closed (shutting down): keep the entry only
                pass

    def subscribe(self, client_id: str, enabled: bool) -> None:
        with self._lock:
            if enabled:
                self.subscribers.add(client_id)
            else:
                self.subscribers.discard(client_id)

    def subscribed(self) -> list[str]:
        with self._lock:
            return list(self.subscribers)

    def take_pending(self) -> list[dict]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def capture_console(self) -> None:
        """Tee ``sys.stdout`` and ``sys.stderr`` into this buffer (once)."""
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, _Tee) and stream is not None:
                setattr(sys, name, _Tee(stream, self.record))

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.entries)

    @staticmethod
    def terminal_size() -> dict:
        size = shutil.get_terminal_size()
        return {"cols": size.columns, "rows": size.lines}
