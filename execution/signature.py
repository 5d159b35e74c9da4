"""Cache signatures: a digest of a node's class, constants, fingerprint and its ancestors' signatures.

Each signature is a fixed-size digest built from the ancestors' digests, so computing one costs
the same at depth 10 and at depth 10,000 (ComfyUI rebuilds every key from the full ancestry).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import uuid
from typing import Any

from execution.async_bridge import run_blocking
from execution.graph import DynamicPrompt, is_link
from execution.registry import NodeRegistry


def hidden_values_outside_run(schema: Any, node_id: str) -> dict[str, Any]:
    """Hidden inputs as ComfyUI fills them for IS_CHANGED and VALIDATE_INPUTS (no prompt yet)."""
    values: dict[str, Any] = {}
    for name, spec in schema.inputs().items():
        kind = spec.filled_kind
        if kind is not None:
            values[name] = {} if kind == "PROMPT" else node_id if kind == "UNIQUE_ID" else None
    return values


def _never_equal() -> str:
    return uuid.uuid4().hex


class SignatureBuilder:
    def __init__(self, dyn: DynamicPrompt, registry: NodeRegistry, services: Any, prompt_id: str):
        self.dyn = dyn
        self.registry = registry
        self.services = services
        self._signatures: dict[str, str] = {}

    def of(self, node_id: str) -> str:
        return self._signatures[node_id]

    def compute(self, targets: list[str]) -> list[str]:
        """Signatures of the targets and every ancestor; returns them in topological order."""
        order: list[str] = []
        on_path: set[str] = set()
        for target in targets:
            if target in self._signatures:
                continue
            stack: list[tuple[str, bool]] = [(target, False)]
            while stack:
                node_id, children_done = stack.pop()
                if children_done:
                    on_path.discard(node_id)
                    self._signatures[node_id] = self._sign(node_id)
                    order.append(node_id)
                    continue
                if node_id in self._signatures or node_id in on_path:
                    continue
                on_path.add(node_id)
                stack.append((node_id, True))
                for value in self.dyn.get(node_id)["inputs"].values():
                    if is_link(value) and value[0] not in self._signatures:
                        if value[0] in on_path:  # a cycle: this node can never be cached
                            self._signatures[value[0]] = _never_equal()
                        elif self.dyn.has(value[0]):
                            stack.append((value[0], False))
        return order

    def add(self, node_ids: list[str]) -> None:
        self.compute(node_ids)

    def _sign(self, node_id: str) -> str:
        node = self.dyn.get(node_id)
        schema = self.registry.get(node["class_type"])
        constants: dict[str, Any] = {}
        links: list[Any] = []
        for name, value in sorted(node["inputs"].items()):
            if is_link(value):
                links.append((name, self._signatures.get(value[0]) or _never_equal(), value[1]))
            else:
                constants[name] = value
        parts: list[Any] = [node["class_type"], constants, links]
        if schema.fingerprint is not None:
            fingerprint = self._fingerprint(schema, node, node_id)
            if fingerprint is None:
                return _never_equal()
            parts.append(fingerprint)
        # ComfyUI keys such nodes by id too: two of them with equal inputs never share a result.
        if schema.not_idempotent or any(spec.filled_kind == "UNIQUE_ID" for spec in schema.inputs().values()):
            parts.append(node_id)
        text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def _fingerprint(self, schema: Any, node: dict, node_id: str) -> str | None:
        """``IS_CHANGED``: linked inputs arrive as None; NaN or an exception means never cached.

        Hidden kinds are filled as ComfyUI fills them here: PROMPT ``{}``, UNIQUE_ID the node id,
        the others None."""
        constants = {}
        for name, value in node["inputs"].items():
            if is_link(value):
                constants[name] = None
            elif isinstance(value, dict) and set(value) == {"__value__"}:
                constants[name] = value["__value__"]
            else:
                constants[name] = value
        constants.update(hidden_values_outside_run(schema, node_id))
        try:
            value = schema.fingerprint(self.services, constants)
            if inspect.isawaitable(value):
                value = run_blocking(lambda: value)
        except Exception:  # noqa: BLE001
            return None
        if isinstance(value, float) and math.isnan(value):
            return None
        return repr(value)
