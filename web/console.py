"""The server's console lines for each job, as ComfyUI prints them: ``got prompt``, validation
failures in one line, ``Prompt executed in N.NN seconds``, and errors with the node and message.
One short line per event, so the per-prompt cost stays a few microseconds."""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from execution.validate import summarize


class JobConsole:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()  # workers report from their own threads

    def _print(self, line: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(line + "\n")  # one write (print makes two, each recorded by the log buffer)
        stream.flush()

    def got_prompt(self, prompt_id: str, client_id: str | None, node_count: int) -> None:
        self._print(f"got prompt {prompt_id} (client {client_id or '-'}, {node_count} nodes)")

    def invalid_prompt(self, response: dict) -> None:
        self._print(f"invalid prompt: {summarize(response)}")

    def job_started(self, prompt_id: str) -> None:
        with self._lock:
            self._started[prompt_id] = time.perf_counter()

    def job_finished(self, prompt_id: str, status: str, error: dict | None) -> None:
        with self._lock:
            started = self._started.pop(prompt_id, None)
        seconds = time.perf_counter() - started if started is not None else 0.0
        if status == "error":
            failure: dict[str, Any] = error or {}
            kind = str(failure.get("exception_type") or "error").rsplit(".", 1)[-1]
            self._print(f"!!! Exception during processing !!! node {failure.get('node_id', '?')} "
                        f"({failure.get('node_type', '?')}): {kind}: {failure.get('exception_message', '')}")
            self._print(f"Prompt failed after {seconds:.2f} seconds")
        elif status == "interrupted":
            self._print(f"Processing interrupted; prompt stopped after {seconds:.2f} seconds")
        else:
            self._print(f"Prompt executed in {seconds:.2f} seconds")
