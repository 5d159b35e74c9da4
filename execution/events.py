"""The typed event stream of one prompt.

Each event knows its ComfyUI websocket ``type`` and ``data`` shape, so the CLI, the server and a
remote worker all consume the same objects.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Event:
    prompt_id: str

    type = "event"

    def data(self) -> dict:
        return {"prompt_id": self.prompt_id}


@dataclass(slots=True)
class ExecutionStart(Event):
    timestamp: int = field(default_factory=now_ms)
    type = "execution_start"

    def data(self) -> dict:
        return {"prompt_id": self.prompt_id, "timestamp": self.timestamp}


@dataclass(slots=True)
class ExecutionCached(Event):
    nodes: list[str] = field(default_factory=list)
    timestamp: int = field(default_factory=now_ms)
    type = "execution_cached"

    def data(self) -> dict:
        return {"nodes": self.nodes, "prompt_id": self.prompt_id, "timestamp": self.timestamp}


@dataclass(slots=True)
class Executing(Event):
    node: str | None = None  # None marks the end of the prompt
    display_node: str | None = None
    type = "executing"

    def data(self) -> dict:
        return {"node": self.node, "display_node": self.display_node or self.node, "prompt_id": self.prompt_id}


@dataclass(slots=True)
class Progress(Event):
    node: str = ""
    value: int = 0
    max: int = 0
    preview: Any = None  # an optional preview image (PIL.Image), sent as a binary frame
    type = "progress"

    def data(self) -> dict:
        return {"value": self.value, "max": self.max, "prompt_id": self.prompt_id, "node": self.node}


@dataclass(slots=True)
class Text(Event):
    """Streamed text for a node (binary frame type 3)."""
    node: str = ""
    text: str = ""
    type = "text"

    def data(self) -> dict:
        return {"node": self.node, "text": self.text, "prompt_id": self.prompt_id}


@dataclass(slots=True)
class Executed(Event):
    node: str = ""
    display_node: str = ""
    output: dict = field(default_factory=dict)
    type = "executed"

    def data(self) -> dict:
        return {"node": self.node, "display_node": self.display_node or self.node, "output": self.output,
                "prompt_id": self.prompt_id}


@dataclass(slots=True)
class ExecutionSuccess(Event):
    timestamp: int = field(default_factory=now_ms)
    type = "execution_success"

    def data(self) -> dict:
        return {"prompt_id": self.prompt_id, "timestamp": self.timestamp}


@dataclass(slots=True)
class ExecutionError(Event):
    node_id: str = ""
    node_type: str = ""
    executed: list[str] = field(default_factory=list)
    exception_message: str = ""
    exception_type: str = ""
    traceback: list[str] = field(default_factory=list)
    current_inputs: dict = field(default_factory=dict)
    current_outputs: list = field(default_factory=list)
    timestamp: int = field(default_factory=now_ms)
    type = "execution_error"

    def data(self) -> dict:
        return {"prompt_id": self.prompt_id, "node_id": self.node_id, "node_type": self.node_type,
                "executed": self.executed, "exception_message": self.exception_message,
                "exception_type": self.exception_type, "traceback": self.traceback,
                "current_inputs": self.current_inputs, "current_outputs": self.current_outputs,
                "timestamp": self.timestamp}


@dataclass(slots=True)
class ExecutionInterrupted(Event):
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = field(default_factory=list)
    timestamp: int = field(default_factory=now_ms)
    type = "execution_interrupted"

    def data(self) -> dict:
        return {"prompt_id": self.prompt_id, "node_id": self.node_id, "node_type": self.node_type,
                "executed": self.executed, "timestamp": self.timestamp}


@dataclass(slots=True)
class ImageFrame(Event):
    """A full-size PNG for the websocket (SaveImageWebsocket): binary preview frame, PNG format."""
    node: str = ""
    png: bytes = b""
    type = "image_frame"

    def data(self) -> dict:
        return {"node": self.node, "prompt_id": self.prompt_id, "bytes": len(self.png)}


@dataclass(slots=True)
class Warning_(Event):
    """A non-fatal message from a node (a resized hint, a clamped top_k)."""
    node: str = ""
    message: str = ""
    type = "warning"

    def data(self) -> dict:
        return {"node": self.node, "message": self.message, "prompt_id": self.prompt_id}


EventSink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """A sink that drops everything."""
