"""Prompt graphs: links, the dynamic prompt that grows by node expansion, and blockers."""
from __future__ import annotations

from typing import Any


def is_link(value: Any) -> bool:
    """A link is exactly ``["<node id>", <int slot>]``; ``[4, 0]`` is a constant list."""
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int) and not isinstance(value[1], bool))


class ExecutionBlocker:
    """An output value that stops everything downstream of it.

    With a message, the blocked node fails with that message; with ``None`` it is silent.
    """

    __slots__ = ("message",)

    def __init__(self, message: str | None):
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"


class DynamicPrompt:
    """The prompt being executed: the original nodes plus those created by expansion."""

    def __init__(self, prompt: dict[str, dict]):
        self.original = prompt
        self.ephemeral: dict[str, dict] = {}
        self.parent_of: dict[str, str] = {}  # expanded node id -> the node that created it
        self.display_of: dict[str, str] = {}

    def get(self, node_id: str) -> dict:
        node = self.ephemeral.get(node_id)
        return node if node is not None else self.original[node_id]

    def has(self, node_id: str) -> bool:
        return node_id in self.ephemeral or node_id in self.original

    def add_ephemeral(self, node_id: str, node: dict, parent_id: str, display_id: str) -> None:
        self.ephemeral[node_id] = node
        self.parent_of[node_id] = parent_id
        self.display_of[node_id] = display_id

    def display_id(self, node_id: str) -> str:
        return self.display_of.get(node_id, node_id)

    def all_ids(self) -> list[str]:
        return list(self.original) + list(self.ephemeral)

    # ComfyUI's DynamicPrompt method names, for V1 nodes that take a hidden DYNPROMPT input.
    def get_node(self, node_id: str) -> dict:
        return self.get(node_id)

    def has_node(self, node_id: str) -> bool:
        return self.has(node_id)

    def get_original_prompt(self) -> dict:
        return self.original

    def get_display_node_id(self, node_id: str) -> str:
        return self.display_id(node_id)

    def get_parent_node_id(self, node_id: str) -> str | None:
        return self.parent_of.get(node_id)

    def get_real_node_id(self, node_id: str) -> str:
        while node_id in self.parent_of:
            node_id = self.parent_of[node_id]
        return node_id
