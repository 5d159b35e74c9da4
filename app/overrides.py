"""``run --set NODE.INPUT=VALUE``: parse an override, check it against the node's inputs, and apply it
to the API prompt and to the editor workflow, so that a saved PNG's ``prompt`` and ``workflow``
chunks describe the same graph."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from execution.dynamic_inputs import expand_dynamic_inputs
from execution.registry import NodeRegistry
from execution.workflow import WorkflowError, widget_positions


@dataclass(frozen=True)
class Override:
    text: str
    node_ref: str
    input_name: str
    value: Any


def parse_override(text: str) -> Override:
    """``NODE.INPUT=VALUE``; NODE is an id, a class type or a title; VALUE is JSON or a plain string."""
    target, sep, raw = text.partition("=")
    node_ref, dot, input_name = target.rpartition(".")
    if not sep or not dot or not node_ref or not input_name:
        raise WorkflowError(f"--set expects NODE.INPUT=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return Override(text, node_ref, input_name, value)


def _matching_nodes(prompt: dict, node_ref: str) -> list[str]:
    return [node_id for node_id, node in prompt.items()
            if node_id == node_ref or node.get("class_type") == node_ref
            or (node.get("_meta") or {}).get("title") == node_ref]


def _check_input(override: Override, node_id: str, node: dict, registry: NodeRegistry) -> None:
    schema = registry.get(node.get("class_type"))
    if schema is None:  # validation reports the unknown node type
        return
    specs = expand_dynamic_inputs(schema.inputs(fresh=True), node.get("inputs") or {})
    names = [name for name, spec in specs.items() if spec.section != "hidden"]
    if override.input_name not in names:
        raise WorkflowError(f"--set {override.text!r}: node {node_id} ({schema.name}) has no input "
                            f"{override.input_name!r}; its inputs are: {', '.join(names) or '(none)'}")


def apply_overrides(prompt: dict, workflow: dict | None, texts: list[str],
                    registry: NodeRegistry) -> tuple[dict | None, list[str]]:
    """Apply every override to ``prompt`` (in place) and to a copy of ``workflow``.

    Returns the updated workflow, or None with a warning when an override cannot be shown in the
    editor's graph (a constant replacing a link that is not a widget)."""
    overrides = [parse_override(text) for text in texts]
    targets: list[tuple[Override, list[str]]] = []
    for override in overrides:
        matched = _matching_nodes(prompt, override.node_ref)
        while not matched and "." in override.node_ref:  # a dotted input name: "4.format.bit_depth"
            node_ref, _, head = override.node_ref.rpartition(".")
            override = Override(override.text, node_ref, f"{head}.{override.input_name}", override.value)
            matched = _matching_nodes(prompt, node_ref)
        if not matched:
            override = parse_override(override.text)
            raise WorkflowError(f"--set {override.text!r}: no node with id, type or title {override.node_ref!r}")
        for node_id in matched:
            _check_input(override, node_id, prompt[node_id], registry)
        targets.append((override, matched))
    edited = copy.deepcopy(workflow) if workflow else None
    warnings: list[str] = []
    for override, matched in targets:
        for node_id in matched:
            prompt[node_id].setdefault("inputs", {})[override.input_name] = override.value
            if edited is not None and not _apply_to_workflow(edited, node_id, override, registry):
                warnings.append(f"--set {override.text!r} replaces a link the editor cannot show as a value; "
                                f"the saved PNG carries the prompt only")
                edited = None
    return edited, warnings


def _apply_to_workflow(workflow: dict, node_id: str, override: Override, registry: NodeRegistry) -> bool:
    nodes = {str(n.get("id")): n for n in workflow.get("nodes") or [] if isinstance(n, dict)}
    node = nodes.get(node_id)
    if node is None:
        return False
    name, value = override.input_name, override.value
    for slot in node.get("inputs") or []:
        if slot.get("name") != name or slot.get("link") is None:
            continue
        origin = nodes.get(_link_origin(workflow, slot["link"]))
        if origin is not None and origin.get("type") == "PrimitiveNode" and origin.get("widgets_values"):
            origin["widgets_values"][0] = value
            return True
        _unlink(workflow, nodes, slot)
    widgets = node.get("widgets_values")
    if isinstance(widgets, dict):
        widgets[name] = value
        return True
    schema = registry.get(node.get("type"))
    position = widget_positions(list(widgets or []), schema).get(name) if schema else None
    if position is None:
        return False
    widgets[position] = value
    return True


def _link_fields(raw: Any) -> tuple[Any, Any, Any]:
    """(id, origin id, origin slot) of a link in either serialisation (list or object)."""
    if isinstance(raw, list) and len(raw) >= 3:
        return raw[0], raw[1], raw[2]
    if isinstance(raw, dict):
        return raw.get("id"), raw.get("origin_id"), raw.get("origin_slot")
    return None, None, None


def _link_origin(workflow: dict, link_id: int) -> str | None:
    for raw in workflow.get("links") or []:
        found, origin_id, _ = _link_fields(raw)
        if found == link_id:
            return str(origin_id)
    return None


def _unlink(workflow: dict, nodes: dict, slot: dict) -> None:
    link_id = slot["link"]
    slot["link"] = None
    kept = []
    for raw in workflow.get("links") or []:
        found, origin_id, origin_slot = _link_fields(raw)
        if found != link_id:
            kept.append(raw)
            continue
        outputs = (nodes.get(str(origin_id)) or {}).get("outputs") or []
        if isinstance(origin_slot, int) and origin_slot < len(outputs):
            links = outputs[origin_slot].get("links") or []
            outputs[origin_slot]["links"] = [other for other in links if other != link_id]
    workflow["links"] = kept
