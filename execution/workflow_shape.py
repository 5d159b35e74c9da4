"""The shape of an editor workflow, checked before anything converts it.

ComfyUI's editors write ``nodes`` (objects) and ``links`` (``[id, origin, origin slot, target, target
slot, type]`` lists or objects), and subgraph definitions of the same shape under
``definitions.subgraphs``. A file damaged by hand or cut short by a tool used to fail deep inside the
conversion with a bare ``TypeError``; this names the first entry that is not of that shape instead.
"""
from __future__ import annotations

from typing import Any


class WorkflowShapeError(ValueError):
    """A workflow entry that is not of the shape the editors write."""


def check_workflow_shape(workflow: dict) -> None:
    """Raise WorkflowShapeError naming the first malformed entry of ``workflow`` or its subgraphs."""
    _check_graph(workflow, "the workflow")
    definitions = workflow.get("definitions")
    if definitions is None:
        return
    if not isinstance(definitions, dict):
        raise WorkflowShapeError("'definitions' must be an object")
    subgraphs = definitions.get("subgraphs")
    if subgraphs is None:
        return
    if not isinstance(subgraphs, list):
        raise WorkflowShapeError("'definitions.subgraphs' must be a list")
    for index, subgraph in enumerate(subgraphs):
        if not isinstance(subgraph, dict):
            raise WorkflowShapeError(f"subgraph definition #{index} is not an object")
        where = f"subgraph {subgraph.get('name') or subgraph.get('id') or index!r}"
        _check_graph(subgraph, where)
        for key in ("inputs", "outputs"):  # the subgraph's boundary slots
            _check_slots(subgraph.get(key), f"{where}: '{key}'")
        check_workflow_shape({"definitions": subgraph["definitions"]} if "definitions" in subgraph else {})


def _check_graph(graph: dict, where: str) -> None:
    nodes, links = graph.get("nodes", []), graph.get("links", [])
    if not isinstance(nodes, list):
        raise WorkflowShapeError(f"{where}: 'nodes' must be a list")
    if links is not None and not isinstance(links, list):
        raise WorkflowShapeError(f"{where}: 'links' must be a list")
    for index, node in enumerate(nodes):
        _check_node(node, f"{where}: node #{index}")
    for index, link in enumerate(links or []):
        _check_link(link, f"{where}: link #{index}")


def _check_node(node: Any, where: str) -> None:
    if not isinstance(node, dict):
        raise WorkflowShapeError(f"{where} is not an object")
    where = f"{where} (id {node.get('id')!r})"
    if not isinstance(node.get("type", ""), str):
        raise WorkflowShapeError(f"{where}: 'type' must be a string")
    mode = node.get("mode", 0)
    if mode is not None and (isinstance(mode, bool) or not isinstance(mode, int)):
        raise WorkflowShapeError(f"{where}: 'mode' must be a number")
    for key in ("inputs", "outputs"):
        _check_slots(node.get(key), f"{where}: '{key}'")
    for slot in node.get("inputs") or []:
        if slot.get("link") is not None and not _is_slot_number(slot["link"]):
            raise WorkflowShapeError(f"{where}: input {slot.get('name')!r} has a 'link' that is not a link id")
    values = node.get("widgets_values")
    if values is not None and not isinstance(values, (list, dict)):
        raise WorkflowShapeError(f"{where}: 'widgets_values' must be a list or an object")


def _check_slots(slots: Any, where: str) -> None:
    if slots is not None and not (isinstance(slots, list) and all(isinstance(s, dict) for s in slots)):
        raise WorkflowShapeError(f"{where} must be a list of objects")


def _check_link(link: Any, where: str) -> None:
    if isinstance(link, list):
        if len(link) < 5 or not all(_is_slot_number(part) for part in (link[0], link[2], link[4])):
            raise WorkflowShapeError(f"{where} must be [id, origin, origin slot, target, target slot, type]")
        return
    if not isinstance(link, dict):
        raise WorkflowShapeError(f"{where} is neither a list nor an object")
    if not all(_is_slot_number(link.get(key)) for key in ("id", "origin_slot", "target_slot")):
        raise WorkflowShapeError(f"{where} needs numeric 'id', 'origin_slot' and 'target_slot'")


def _is_slot_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    try:
        int(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True
