"""A subgraph workflow made editable in the Plexus editor: every instance expanded in place into a
group of its inner nodes (the issue allows this instead of an openable subgraph node).

The flattened graph (``execution.subgraphs``) is renumbered with integer ids (litegraph needs them),
promoted widget values are written into the inner nodes' positional ``widgets_values``, output
link lists are rebuilt, and one group per top-level instance keeps its title. The result is an
ordinary version-0.4 workflow: it runs, and saves, with every node and value of the original.
"""
from __future__ import annotations

from typing import Any

from execution.registry import NodeRegistry
from execution.schema import iter_widget_inputs
from execution.subgraphs import OVERRIDES, flatten_subgraphs
from execution.workflow_shape import check_workflow_shape
from execution.workflow import widget_positions

CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
GROUP_PADDING = 30.0
TITLE_HEIGHT = 40.0


def _write_widget(node: dict, schema: Any, name: str, value: Any) -> None:
    values = node.get("widgets_values")
    if isinstance(values, dict):
        values[name] = value
        return
    values = list(values or [])
    known = widget_positions(values, schema)  # follows a DynamicCombo's chosen widgets
    if name in known:
        values[known[name]] = value
        node["widgets_values"] = values
        return
    position = 0
    for spec in iter_widget_inputs(schema):
        if spec.name == name:
            values.extend([None] * (position + 1 - len(values)))
            values[position] = value
            break
        position += 1
        has_control = spec.options.get("control_after_generate") or spec.name in ("seed", "noise_seed")
        if has_control and position < len(values) and values[position] in CONTROL_VALUES:
            position += 1
    node["widgets_values"] = values


def _numeric_ids(workflow: dict, nodes: list[dict]) -> dict[str, int]:
    taken = [int(n["id"]) for n in nodes if str(n["id"]).lstrip("-").isdigit()]
    state = workflow.get("state") or {}
    next_id = max([*taken, int(workflow.get("last_node_id") or 0), int(state.get("lastNodeId") or 0)]) + 1
    mapping = {str(i): i for i in taken}
    for node in nodes:
        if str(node["id"]) not in mapping:
            mapping[str(node["id"])] = next_id
            next_id += 1
    return mapping


def _group(title: str, members: list[dict]) -> dict:
    left = min(n["pos"][0] for n in members) - GROUP_PADDING
    top = min(n["pos"][1] for n in members) - GROUP_PADDING - TITLE_HEIGHT
    right = max(n["pos"][0] + float((n.get("size") or [200, 100])[0]) for n in members) + GROUP_PADDING
    bottom = max(n["pos"][1] + float((n.get("size") or [200, 100])[1]) for n in members) + GROUP_PADDING
    return {"title": title, "bounding": [left, top, right - left, bottom - top], "color": "#3f789e", "font_size": 24}


def expand_for_editor(workflow: dict, registry: NodeRegistry) -> dict:
    """The workflow with each subgraph instance expanded into a titled group (see the module doc).
    Raises WorkflowShapeError for a malformed workflow."""
    check_workflow_shape(workflow)
    flat = flatten_subgraphs(workflow, keep_inactive=True)
    nodes = [dict(n) for n in flat["nodes"]]
    ids = _numeric_ids(workflow, nodes)
    links = []
    for link in flat["links"]:
        origin, target = ids.get(str(link[1])), ids.get(str(link[3]))
        if origin is not None and target is not None:
            links.append([link[0], origin, link[2], target, link[4], link[5]])
    by_target = {(link[3], link[4]): link[0] for link in links}
    definitions = {d["id"]: d for d in (workflow.get("definitions") or {}).get("subgraphs") or []}
    top_titles = {str(n["id"]): n.get("title") or definitions.get(n.get("type"), {}).get("name") or "Subgraph"
                  for n in workflow.get("nodes") or [] if n.get("type") in definitions}
    members: dict[str, list[dict]] = {}
    for node in nodes:
        old_id = str(node["id"])
        node["id"] = ids[old_id]
        node["inputs"] = [dict(slot, link=by_target.get((node["id"], index)))
                          for index, slot in enumerate(node.get("inputs") or [])]
        node["outputs"] = [dict(slot, links=[l[0] for l in links if l[1] == node["id"] and l[2] == index],
                                slot_index=index) for index, slot in enumerate(node.get("outputs") or [])]
        overrides = node.pop(OVERRIDES, None) or {}
        schema = registry.get(node.get("type"))
        for name, value in overrides.items():
            if schema is not None:
                _write_widget(node, schema, name, value)
        if ":" in old_id:
            members.setdefault(old_id.split(":")[0], []).append(node)
    groups = list(workflow.get("groups") or [])
    groups += [_group(top_titles.get(instance, "Subgraph"), inner) for instance, inner in members.items()]
    expanded = {k: v for k, v in flat.items() if k not in ("nodes", "links", "groups", "state")}
    extra = dict(workflow.get("extra") or {})
    extra["plexus_expanded_subgraphs"] = [top_titles.get(i, "Subgraph") for i in members]
    expanded.update(nodes=nodes, links=links, groups=groups, extra=extra, version=0.4,
                    last_node_id=max([n["id"] for n in nodes], default=0),
                    last_link_id=max([l[0] for l in links], default=0))
    return expanded
