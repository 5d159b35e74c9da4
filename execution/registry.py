"""The node registry: every known node schema by class name."""
from __future__ import annotations

from typing import Any, Iterable

from execution.schema import NodeSchema


class NodeNameClash(ValueError):
    pass


class NodeRegistry:
    """Node schemas by class name, plus aliases: old names of renamed built-ins. An alias only
    answers while no node of that name is registered, so a pack defining the name takes it."""

    def __init__(self) -> None:
        self._schemas: dict[str, NodeSchema] = {}
        self._builtin_names: set[str] = set()
        self._aliases: dict[str, str] = {}

    def add_alias(self, old_name: str, name: str) -> None:
        """Let prompts and workflows that use ``old_name`` reach the node ``name``."""
        self._aliases[old_name] = name

    def aliases(self) -> dict[str, str]:
        """Old name -> current name, for the aliases no registered node overrides."""
        return {old: new for old, new in self._aliases.items() if old not in self._schemas}

    def add(self, schema: NodeSchema, *, builtin: bool = False) -> None:
        """Register a node. Built-in names can never be replaced by a plugin."""
        if schema.name in self._builtin_names or (builtin and schema.name in self._schemas):
            raise NodeNameClash(f"node name {schema.name!r} is already registered by a built-in node")
        self._schemas[schema.name] = schema
        if builtin:
            self._builtin_names.add(schema.name)

    def add_all(self, schemas: Iterable[NodeSchema], *, builtin: bool = False) -> None:
        for schema in schemas:
            self.add(schema, builtin=builtin)

    def get(self, name: str) -> NodeSchema | None:
        schema = self._schemas.get(name)
        if schema is None and name in self._aliases:
            return self._schemas.get(self._aliases[name])
        return schema

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return len(self._schemas)

    def names(self) -> list[str]:
        return list(self._schemas)

    def is_builtin(self, name: str) -> bool:
        return name in self._builtin_names

    def object_info(self, services: Any, name: str | None = None) -> dict:
        """``/object_info`` (or ``/object_info/{name}``) for every node."""
        if name is not None:
            schema = self._schemas.get(name)
            return {name: schema.object_info(services)} if schema else {}
        out = {}
        for schema_name, schema in self._schemas.items():
            try:
                out[schema_name] = schema.object_info(services)
            except Exception:  # a plugin's INPUT_TYPES that raises hides only that node
                continue
        return out
