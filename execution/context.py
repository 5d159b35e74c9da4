"""What a running node can reach: progress, streamed text, interrupt, hidden values and services."""
from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

from execution.events import EventSink, ImageFrame, Progress, Text, Warning_


class InterruptedError_(Exception):
    """Raised inside a node when the user interrupts the prompt."""


class InterruptFlag:
    """A worker's interrupt switch; nodes poll it between steps (cooperative)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


class NodeContext:
    __slots__ = ("node_id", "display_node_id", "class_type", "prompt_id", "services", "prompt",
                 "extra_data", "call_index", "dynprompt", "run_memo", "_emit", "_interrupt")

    def __init__(self, *, node_id: str, display_node_id: str, class_type: str, prompt_id: str,
                 services: Any, prompt: dict, extra_data: dict, emit: EventSink, interrupt: InterruptFlag,
                 call_index: int = 0, dynprompt: Any = None, run_memo: dict | None = None):
        self.node_id = node_id
        self.display_node_id = display_node_id
        self.class_type = class_type
        self.prompt_id = prompt_id
        self.services = services
        self.prompt = prompt
        self.extra_data = extra_data
        self.call_index = call_index  # which call of a list-mapped node (for expansion id prefixes)
        self.dynprompt = dynprompt  # the prompt as it grows by expansion (ComfyUI's DYNPROMPT)
        # Shared by every node of one run, dropped with it: work done once per run, not per node
        # (the PNG metadata of a thousand previews is one JSON text).
        self.run_memo = run_memo if run_memo is not None else {}
        self._emit = emit
        self._interrupt = interrupt

    def check_interrupt(self) -> None:
        if self._interrupt.is_set():
            raise InterruptedError_("Processing interrupted")

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    def progress(self, value: int, total: int, preview: Any = None) -> None:
        """Report progress (and an optional preview image); also checks for interrupt."""
        self._emit(Progress(self.prompt_id, node=self.display_node_id, value=int(value), max=int(total),
                            preview=preview))
        self.check_interrupt()

    def send_text(self, text: str) -> None:
        self._emit(Text(self.prompt_id, node=self.display_node_id, text=text))

    def send_image(self, png: bytes) -> None:
        """A PNG sent to the client as a binary image frame (no file is written)."""
        self._emit(ImageFrame(self.prompt_id, node=self.display_node_id, png=png))

    def warn(self, message: str) -> None:
        self._emit(Warning_(self.prompt_id, node=self.display_node_id, message=message))


# The node being executed, for plugin-compat helpers (``comfy.utils.ProgressBar``) that
# ComfyUI's interface offers without passing a context. Set by the runner only.
current_node: ContextVar[NodeContext | None] = ContextVar("plexus_current_node", default=None)
