"""ComfyUI's ``comfy_execution.graph_utils``: ``GraphBuilder`` for node expansion, and ``is_link``.

Node ids must be unique across the whole prompt, including earlier expansions, so each builder's
prefix is made from the running node's id, the call index (list-mapped nodes are called once per
item) and a per-call counter: ``"<node id>.<call index>.<builder index>."``, e.g. ``12.0.0.5``.
"""
from __future__ import annotations

import uuid
from typing import Any

import _plexus_binding as binding

from execution.context import current_node
from execution.graph import ExecutionBlocker, is_link  # noqa: F401 - ComfyUI exports both here


def _default_prefix() -> str:
    ctx = current_node.get()
    if ctx is None:  # built outside a running node (tests, set-up code): still unique
        return f"gb{uuid.uuid4().hex[:8]}."
    index = binding.next_graph_index((ctx.prompt_id, ctx.node_id, ctx.call_index))
    return f"{ctx.node_id}.{ctx.call_index}.{index}."


class Node:
    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]):
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list:
        """A link to this node's output ``index``."""
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict:
        data: dict[str, Any] = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            data["override_display_id"] = self.override_display_id
        return data


class GraphBuilder:
    """Builds the subgraph a node returns as ``{"result": ..., "expand": builder.finalize()}``."""

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix if prefix is not None else _default_prefix()
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        """Accepted for compatibility; Plexus derives the prefix from the running node."""

    @classmethod
    def alloc_prefix(cls, root: str | None = None, call_index: int | None = None,
                     graph_index: int | None = None) -> str:
        if root is None:
            return _default_prefix()
        return f"{root}.{call_index or 0}.{graph_index or 0}."

    def node(self, class_type: str, id: str | None = None, **kwargs: Any) -> Node:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        full_id = self.prefix + str(id)
        if full_id in self.nodes:
            return self.nodes[full_id]
        node = Node(full_id, class_type, kwargs)
        self.nodes[full_id] = node
        return node

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + str(id))

    def finalize(self) -> dict[str, dict]:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        """Point every input linked to ``node_id``'s output ``index`` at ``new_value``."""
        full_id = self.prefix + str(node_id)
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_link(value) and value[0] == full_id and value[1] == index:
                    node.set_input(key, new_value)

    def remove_node(self, id: str) -> None:
        self.nodes.pop(self.prefix + str(id), None)


def add_graph_prefix(graph: dict, outputs: tuple, prefix: str) -> tuple[dict, tuple]:
    """Prefix every node id (and every internal link) of an expansion graph."""
    new_graph = {}
    for node_id, node in graph.items():
        inputs = {k: ([prefix + v[0], v[1]] if is_link(v) and v[0] in graph else v)
                  for k, v in node.get("inputs", {}).items()}
        new_graph[prefix + node_id] = {**node, "inputs": inputs}
    new_outputs = tuple([prefix + o[0], o[1]] if is_link(o) and o[0] in graph else o for o in outputs)
    return new_graph, new_outputs
