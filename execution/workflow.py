"""Editor workflow JSON (litegraph, versions 0.4 and 1) to API-format prompts.

``widgets_values`` are positional, so the conversion walks each node's widget inputs from its schema,
skipping UI-only extras (the control value that follows a seed). Muted nodes (mode 2) are dropped;
bypassed nodes (mode 4) pass their first type-matching input through; ``Reroute``, ``PrimitiveNode``
and notes are resolved or skipped. Subgraph instances are flattened first (``execution.subgraphs``),
so inner nodes get the frontend's ids (``"68:6"``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from execution.dynamic_inputs import widget_inputs_after
from execution.registry import NodeRegistry
from execution.schema import iter_widget_inputs, split_types
from execution.subgraphs import OVERRIDES as WIDGET_OVERRIDES
from execution.subgraphs import SubgraphError, flatten_subgraphs, has_subgraphs
from execution.workflow_shape import WorkflowShapeError, check_workflow_shape

MODE_MUTED, MODE_BYPASSED = 2, 4
NOTE_TYPES = frozenset({"Note", "MarkdownNote", "PrimitiveNode", "Reroute"})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
SEED_NAMES = frozenset({"seed", "noise_seed"})


class WorkflowError(ValueError):
    pass


@dataclass
class Conversion:
    prompt: dict[str, dict]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Link:
    origin_id: str
    origin_slot: int
    type: str


def is_editor_workflow(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def _links(workflow: dict) -> dict[int, _Link]:
    links: dict[int, _Link] = {}
    for raw in workflow.get("links") or []:
        if isinstance(raw, list) and len(raw) >= 5:
            link_id, origin_id, origin_slot = raw[0], raw[1], raw[2]
            link_type = raw[5] if len(raw) > 5 else "*"
        elif isinstance(raw, dict):
            link_id, origin_id, origin_slot = raw.get("id"), raw.get("origin_id"), raw.get("origin_slot")
            link_type = raw.get("type", "*")
        else:
            continue
        links[int(link_id)] = _Link(str(origin_id), int(origin_slot), str(link_type))
    return links


def widget_positions(values: list, schema: Any) -> dict[str, int]:
    """Where each of the schema's widget inputs sits in a node's positional ``widgets_values``."""
    positions: dict[str, int] = {}
    position = 0
    pending = list(iter_widget_inputs(schema))
    while pending:
        spec = pending.pop(0)
        if position >= len(values):
            break
        positions[spec.name] = position
        pending[:0] = widget_inputs_after(spec, values[position])  # a DynamicCombo's chosen widgets
        position += 1
        has_control = spec.options.get("control_after_generate") or (spec.type == "INT" and spec.name in SEED_NAMES)
        if has_control and position < len(values) and values[position] in CONTROL_VALUES:
            position += 1
    return positions


def _widget_values(node: dict, schema: Any) -> dict[str, Any]:
    """Map ``widgets_values`` onto the schema's widget inputs by position."""
    raw = node.get("widgets_values")
    if isinstance(raw, dict):  # some packs serialise widgets by name
        return dict(raw)
    values = list(raw or [])
    return {name: values[position] for name, position in widget_positions(values, schema).items()}


def convert_workflow(workflow: dict, registry: NodeRegistry) -> Conversion:
    if not is_editor_workflow(workflow):
        raise WorkflowError("not an editor workflow: expected 'nodes' and 'links'")
    try:
        check_workflow_shape(workflow)
    except WorkflowShapeError as exc:
        raise WorkflowError(f"malformed workflow: {exc}") from exc
    if has_subgraphs(workflow):
        try:
            workflow = flatten_subgraphs(workflow)
        except SubgraphError as exc:
            raise WorkflowError(str(exc)) from exc
    nodes = {str(n["id"]): n for n in workflow["nodes"] if isinstance(n, dict) and "id" in n}
    links = _links(workflow)
    result = Conversion(prompt={})

    def input_link(node: dict, name: str | None = None, index: int | None = None) -> int | None:
        for position, slot in enumerate(node.get("inputs") or []):
            if (name is not None and slot.get("name") == name) or (index is not None and position == index):
                return slot.get("link")
        return None

    def resolve(link_id: int | None) -> Any:
        """Follow a link through reroutes and bypassed nodes to a real output or a constant."""
        seen: set[int] = set()
        while link_id is not None:
            if link_id in seen or link_id not in links:
                return None
            seen.add(link_id)
            link = links[link_id]
            origin = nodes.get(link.origin_id)
            if origin is None:
                return None
            kind, mode = origin.get("type"), origin.get("mode", 0)
            if kind == "Reroute":
                link_id = input_link(origin, index=0)
                continue
            if kind == "PrimitiveNode":
                values = origin.get("widgets_values") or []
                return {"constant": values[0]} if values else None
            if mode == MODE_MUTED:
                return None
            if mode == MODE_BYPASSED:
                link_id = _bypass_input(origin, link)
                continue
            return [link.origin_id, link.origin_slot]
        return None

    def _bypass_input(origin: dict, link: _Link) -> int | None:
        outputs = origin.get("outputs") or []
        wanted = outputs[link.origin_slot].get("type", link.type) if link.origin_slot < len(outputs) else link.type
        wanted_types = split_types(str(wanted))
        for slot in origin.get("inputs") or []:
            if slot.get("link") is None:
                continue
            if slot.get("type") == "*" or wanted == "*" or not split_types(str(slot.get("type", ""))).isdisjoint(wanted_types):
                return slot["link"]
        return None

    for node_id, node in nodes.items():
        kind = node.get("type")
        if kind in NOTE_TYPES or node.get("mode", 0) in (MODE_MUTED, MODE_BYPASSED):
            continue
        schema = registry.get(kind)
        inputs: dict[str, Any] = {}
        if schema is None:
            result.warnings.append(f"node {node_id}: unknown node type {kind!r}")
        else:
            inputs.update(_widget_values(node, schema))
        inputs.update(node.get(WIDGET_OVERRIDES) or {})  # promoted subgraph widgets
        for slot in node.get("inputs") or []:
            name = slot.get("name")
            if name is None:
                continue
            if slot.get("link") is None:
                continue
            resolved = resolve(slot["link"])
            if resolved is None:  # fed by a muted node: a converted widget keeps its own value
                continue
            inputs[name] = resolved["constant"] if isinstance(resolved, dict) else resolved
        entry = {"class_type": kind, "inputs": inputs}
        title = node.get("title") or (schema.display_name if schema else kind)
        entry["_meta"] = {"title": title}
        result.prompt[node_id] = entry
    return result


def load_any(data: Any, registry: NodeRegistry) -> tuple[dict, dict | None, list[str]]:
    """(API prompt, editor workflow or None, warnings) from either format, or a POST /prompt body."""
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data["prompt"]:
        extra = data.get("extra_data")
        pnginfo = extra.get("extra_pnginfo") if isinstance(extra, dict) else None
        return data["prompt"], pnginfo.get("workflow") if isinstance(pnginfo, dict) else None, []
    if is_editor_workflow(data):
        conversion = convert_workflow(data, registry)
        return conversion.prompt, data, conversion.warnings
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return data, None, []
    raise WorkflowError("unrecognised workflow: expected an API prompt ({id: {class_type, inputs}}) "
                        "or an editor workflow ({nodes, links})")


def read_png_workflow(path: str) -> tuple[dict | None, dict | None]:
    """The ``prompt`` and ``workflow`` text chunks of a PNG saved by Plexus (or ComfyUI)."""
    from PIL import Image  # pillow is pure image I/O, no torch

    with Image.open(path) as image:
        text = getattr(image, "text", {}) or {}
        chunks = {k: text.get(k) for k in ("prompt", "workflow")}
    return tuple(json.loads(c) if c else None for c in (chunks["prompt"], chunks["workflow"]))  # type: ignore[return-value]
