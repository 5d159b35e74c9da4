"""Subgraph workflows (``definitions.subgraphs``) flattened into an ordinary editor workflow.

A subgraph instance is a node whose ``type`` is a definition id. Flattening replaces every active
instance, nested ones too, by its inner nodes, named as ComfyUI's frontend names them: the chain of
instance ids and the node's own id joined by ``:`` (``"68:6"``, ``"150:41:92"``). Links across
the boundary are followed: an inner link from the input node (-10) continues at the outer link of
the instance's matching input; an outer link from an instance output continues at the inner link
into the output node (-20). An unlinked promoted widget gives its value inline (``proxyWidgets``,
or older files' positional ``widgets_values``); otherwise the inner node keeps its own value. A
muted instance emits nothing; a bypassed one passes its type-matching input through.

The result is a version-0.4 workflow (array links, fresh integer link ids) that
:func:`execution.workflow.convert_workflow` converts like any other; a node's ``_widget_overrides``
holds the promoted values to apply after its positional ``widgets_values``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from execution.schema import split_types

INPUT_NODE, OUTPUT_NODE = -10, -20
MODE_MUTED, MODE_BYPASSED = 2, 4
MAX_DEPTH = 32
OVERRIDES = "_widget_overrides"


class SubgraphError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    """Where a value comes from once the boundaries are crossed: a flat node's output slot, or a constant."""

    node_id: str | None = None
    slot: int = 0
    type: str = "*"
    value: Any = None

    @property
    def is_constant(self) -> bool:
        return self.node_id is None


@dataclass
class _Link:
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: str


def _links(raw_links: Any) -> dict[str, _Link]:
    links: dict[str, _Link] = {}
    for raw in raw_links or []:
        if isinstance(raw, list) and len(raw) >= 5:
            links[str(raw[0])] = _Link(str(raw[1]), int(raw[2]), str(raw[3]), int(raw[4]),
                                       str(raw[5]) if len(raw) > 5 else "*")
        elif isinstance(raw, dict) and raw.get("id") is not None:
            links[str(raw["id"])] = _Link(str(raw.get("origin_id")), int(raw.get("origin_slot") or 0),
                                          str(raw.get("target_id")), int(raw.get("target_slot") or 0),
                                          str(raw.get("type", "*")))
    return links


@dataclass
class _Scope:
    """One graph level: the top workflow, or the inside of one instance."""

    nodes: dict[str, dict]
    links: dict[str, _Link]
    prefix: str  # flat id prefix of this level's nodes: "" at the top, "68:" inside instance 68
    depth: int = 0
    parent: "_Scope | None" = None
    instance: dict | None = None
    definition: dict | None = None
    promoted: dict[int, Any] = field(default_factory=dict)  # boundary input index -> widget value
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # inner node -> {widget: value}
    offset: tuple[float, float] = (0.0, 0.0)  # where this level's canvas sits on the top canvas


def _position(value: Any) -> tuple[float, float]:
    if isinstance(value, dict):  # some files store {"0": x, "1": y}
        value = [value.get("0", 0), value.get("1", 0)]
    try:
        return float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return 0.0, 0.0


def _shifted(pos: Any, offset: tuple[float, float]) -> list[float]:
    x, y = _position(pos)
    return [x + offset[0], y + offset[1]]


def _child_offset(scope: _Scope, instance: dict, inner_nodes: Any) -> tuple[float, float]:
    """Inner nodes are laid out from the instance's place, their top-left corner at the instance."""
    corners = [_position(n.get("pos")) for n in inner_nodes]
    left = min((x for x, _ in corners), default=0.0)
    top = min((y for _, y in corners), default=0.0)
    x, y = _position(instance.get("pos"))
    return scope.offset[0] + x - left, scope.offset[1] + y - top


def has_subgraphs(workflow: dict) -> bool:
    return bool((workflow.get("definitions") or {}).get("subgraphs"))


class _Flattener:
    def __init__(self, workflow: dict, keep_inactive: bool = False):
        self.keep_inactive = keep_inactive
        self.definitions: dict[str, dict] = {}
        self._collect(workflow.get("definitions") or {})
        self.nodes: list[dict] = []
        self.links: list[list] = []
        numbers = [int(k) for k in _links(workflow.get("links")) if str(k).lstrip("-").isdigit()]
        self._link_ids = itertools.count(max(numbers, default=0) + 1)
        self._children: dict[str, _Scope] = {}
        self.top = _Scope({str(n["id"]): n for n in workflow.get("nodes") or [] if isinstance(n, dict) and "id" in n},
                          _links(workflow.get("links")), "")

    def _collect(self, definitions: dict) -> None:
        for definition in definitions.get("subgraphs") or []:  # definitions may nest their own
            if isinstance(definition, dict) and definition.get("id"):
                self.definitions[str(definition["id"])] = definition
                self._collect(definition.get("definitions") or {})

    def is_instance(self, node: dict) -> bool:
        return str(node.get("type")) in self.definitions

    # -- scopes -------------------------------------------------------------------------------------
    def child(self, scope: _Scope, local_id: str) -> _Scope:
        flat_id = scope.prefix + local_id
        if flat_id not in self._children:
            instance = scope.nodes[local_id]
            if scope.depth >= MAX_DEPTH:
                raise SubgraphError(f"subgraph instance {flat_id}: nesting deeper than {MAX_DEPTH} (a cycle?)")
            definition = self.definitions[str(instance["type"])]
            inner_nodes = {str(n["id"]): n for n in definition.get("nodes") or [] if isinstance(n, dict)}
            inner = _Scope(inner_nodes, _links(definition.get("links")), flat_id + ":", scope.depth + 1, scope,
                           instance, definition, offset=_child_offset(scope, instance, inner_nodes.values()))
            self._promote(inner)
            self._children[flat_id] = inner
        return self._children[flat_id]

    def _promote(self, scope: _Scope) -> None:
        """The instance's own widget values: over ``proxyWidgets`` when listed, else positional over
        the definition's inputs that feed an inner widget."""
        values = scope.instance.get("widgets_values")
        if not isinstance(values, list) or not values:
            return
        inputs = scope.definition.get("inputs") or []
        proxies = (scope.instance.get("properties") or {}).get("proxyWidgets")
        if isinstance(proxies, list) and proxies:
            for proxy, value in zip(proxies, values):
                if not (isinstance(proxy, list) and len(proxy) == 2):
                    continue
                inner_id, widget = str(proxy[0]), str(proxy[1])
                if inner_id == "-1":
                    index = next((i for i, slot in enumerate(inputs) if slot.get("name") == widget), None)
                    if index is not None:
                        scope.promoted[index] = value
                else:
                    scope.overrides.setdefault(inner_id, {})[widget] = value
            return
        widget_inputs = [i for i in range(len(inputs)) if self._feeds_widget(scope, i)]
        for index, value in zip(widget_inputs, values):
            scope.promoted[index] = value

    @staticmethod
    def _feeds_widget(scope: _Scope, index: int) -> bool:
        for link in scope.links.values():
            if link.origin_id == str(INPUT_NODE) and link.origin_slot == index:
                target = scope.nodes.get(link.target_id) or {}
                slots = target.get("inputs") or []
                if link.target_slot < len(slots) and slots[link.target_slot].get("widget"):
                    return True
        return False

    # -- following values across boundaries ---------------------------------------------------------
    def link_source(self, scope: _Scope, link_id: Any, depth: int = 0) -> Source | None:
        link = scope.links.get(str(link_id)) if link_id is not None else None
        if link is None or depth > 4 * MAX_DEPTH:
            return None
        if link.origin_id == str(INPUT_NODE):
            return self.boundary_source(scope, link.origin_slot, depth + 1)
        return self.output_source(scope, link.origin_id, link.origin_slot, link.type, depth + 1)

    def boundary_source(self, scope: _Scope, index: int, depth: int) -> Source | None:
        if scope.parent is None:
            return None
        slots = scope.definition.get("inputs") or []
        name = slots[index].get("name") if index < len(slots) else None
        outer = next((s for s in scope.instance.get("inputs") or [] if s.get("name") == name), None)
        if outer is not None and outer.get("link") is not None:
            return self.link_source(scope.parent, outer["link"], depth)
        if index in scope.promoted:
            return Source(value=scope.promoted[index])
        return None

    def output_source(self, scope: _Scope, local_id: str, slot: int, link_type: str, depth: int) -> Source | None:
        node = scope.nodes.get(local_id)
        if node is None:
            return None
        if not self.is_instance(node):
            return Source(scope.prefix + local_id, slot, link_type)
        mode = node.get("mode", 0)
        if mode == MODE_MUTED:
            return None
        if mode == MODE_BYPASSED:
            return self._bypassed(scope, node, slot, link_type, depth)
        inner = self.child(scope, local_id)
        into_output = [link for link in inner.links.values()
                       if link.target_id == str(OUTPUT_NODE) and link.target_slot == slot]
        if not into_output:
            return None
        link_id = next(k for k, v in inner.links.items() if v is into_output[-1])
        return self.link_source(inner, link_id, depth)

    def _bypassed(self, scope: _Scope, node: dict, slot: int, link_type: str, depth: int) -> Source | None:
        outputs = node.get("outputs") or []
        wanted = str(outputs[slot].get("type", link_type)) if slot < len(outputs) else link_type
        for candidate in node.get("inputs") or []:
            if candidate.get("link") is None:
                continue
            kind = str(candidate.get("type", "*"))
            if "*" in (kind, wanted) or not split_types(kind).isdisjoint(split_types(wanted)):
                return self.link_source(scope, candidate["link"], depth)
        return None

    # -- emitting the flat graph --------------------------------------------------------------------
    def emit(self, scope: _Scope, forced_mode: int | None = None) -> None:
        """Emit a level's nodes. Inner nodes of a muted or bypassed instance are left out, or, for the
        editor (``keep_inactive``), kept muted so that nothing is lost."""
        for local_id, node in scope.nodes.items():
            if self.is_instance(node):
                inactive = node.get("mode", 0) in (MODE_MUTED, MODE_BYPASSED)
                if not inactive:
                    self.emit(self.child(scope, local_id), forced_mode)
                elif self.keep_inactive:
                    self.emit(self.child(scope, local_id), MODE_MUTED)
                continue
            if scope.parent is None:
                self.nodes.append(node)  # the top level is already flat: keep its links as they are
                continue
            flat = dict(node, id=scope.prefix + local_id, inputs=[dict(s) for s in node.get("inputs") or []],
                        pos=_shifted(node.get("pos"), scope.offset))
            overrides = dict(scope.overrides.get(local_id, {}))
            for index, slot in enumerate(flat["inputs"]):
                source = self.link_source(scope, slot.get("link")) if slot.get("link") is not None else None
                slot["link"] = None
                if source is None:
                    continue
                if source.is_constant:
                    overrides[str(slot.get("name"))] = source.value
                    continue
                slot["link"] = self._new_link(source, flat["id"], index, slot)
            if overrides:
                flat[OVERRIDES] = overrides
            if forced_mode is not None:
                flat["mode"] = forced_mode
            self.nodes.append(flat)

    def _new_link(self, source: Source, target_id: str, target_slot: int, slot: dict) -> int:
        link_id = next(self._link_ids)
        self.links.append([link_id, source.node_id, source.slot, target_id, target_slot,
                           str(slot.get("type", source.type))])
        return link_id

    def reroute_top_links(self) -> None:
        """Top-level links from an instance output now start at the inner producer."""
        for link_id, link in self.top.links.items():
            origin = self.top.nodes.get(link.origin_id)
            if origin is not None and self.is_instance(origin):
                source = self.output_source(self.top, link.origin_id, link.origin_slot, link.type, 0)
                if source is None or source.is_constant:
                    continue
                self.links.append([int(link_id) if link_id.isdigit() else link_id, source.node_id, source.slot,
                                   link.target_id, link.target_slot, link.type])
            else:
                self.links.append([int(link_id) if link_id.isdigit() else link_id, link.origin_id,
                                   link.origin_slot, link.target_id, link.target_slot, link.type])


def flatten_subgraphs(workflow: dict, keep_inactive: bool = False) -> dict:
    """The workflow with every subgraph instance replaced by its inner nodes (see the module doc)."""
    flattener = _Flattener(workflow, keep_inactive)
    flattener.emit(flattener.top)
    flattener.reroute_top_links()
    flat = {k: v for k, v in workflow.items() if k not in ("definitions", "nodes", "links")}
    flat.update(version=0.4, nodes=flattener.nodes, links=flattener.links)
    return flat
