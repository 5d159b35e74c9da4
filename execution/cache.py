"""Output caches keyed by node signatures.

A signature is a digest of the class, the constants, the fingerprint (``IS_CHANGED``) and the
signatures of all ancestors, so an unchanged subgraph is found again whatever its node ids.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class CacheEntry:
    outputs: list[list[Any]]  # per output slot, the list of values
    ui: dict | None = None
    size_bytes: int = 0
    created: float = field(default_factory=time.monotonic)


class OutputCache(Protocol):
    def get(self, signature: str) -> CacheEntry | None: ...
    def put(self, signature: str, entry: CacheEntry) -> None: ...
    def end_prompt(self, used: set[str]) -> None: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...


class GraphCache:
    """Keeps what the current graph uses (the default): entries the last prompt did not touch go."""

    def __init__(self) -> None:
        self._entries: dict[str, CacheEntry] = {}

    def get(self, signature: str) -> CacheEntry | None:
        return self._entries.get(signature)

    def put(self, signature: str, entry: CacheEntry) -> None:
        self._entries[signature] = entry

    def end_prompt(self, used: set[str]) -> None:
        if len(used) < len(self._entries):
            self._entries = {k: v for k, v in self._entries.items() if k in used}

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class LRUCache:
    """The N most recently used entries, across prompts."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    def get(self, signature: str) -> CacheEntry | None:
        entry = self._entries.get(signature)
        if entry is not None:
            self._entries.move_to_end(signature)
        return entry

    def put(self, signature: str, entry: CacheEntry) -> None:
        self._entries[signature] = entry
        self._entries.move_to_end(signature)

    def end_prompt(self, used: set[str]) -> None:
        # Entries of the prompt just run are never evicted before it ends, even beyond N.
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class NoCache:
    """Nothing survives a prompt."""

    def get(self, signature: str) -> CacheEntry | None:
        return None

    def put(self, signature: str, entry: CacheEntry) -> None:
        return None

    def end_prompt(self, used: set[str]) -> None:
        return None

    def clear(self) -> None:
        return None

    def __len__(self) -> int:
        return 0


class RAMBudgetCache:
    """Everything, until the entries' total size passes the budget; then the biggest and
    oldest entries go first (score = size x age)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: dict[str, CacheEntry] = {}

    def get(self, signature: str) -> CacheEntry | None:
        return self._entries.get(signature)

    def put(self, signature: str, entry: CacheEntry) -> None:
        entry.size_bytes = entry.size_bytes or estimate_bytes(entry.outputs)
        self._entries[signature] = entry

    def end_prompt(self, used: set[str]) -> None:
        total = sum(e.size_bytes for e in self._entries.values())
        if total <= self.budget_bytes:
            return
        now = time.monotonic()
        victims = sorted(self._entries.items(), key=lambda kv: kv[1].size_bytes * (1.0 + now - kv[1].created),
                         reverse=True)
        for signature, entry in victims:
            if total <= self.budget_bytes:
                break
            del self._entries[signature]
            total -= entry.size_bytes

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def estimate_bytes(value: Any) -> int:
    """Bytes held by tensors and arrays in a value (duck-typed: no torch import here)."""
    total = 0
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        nbytes = getattr(item, "nbytes", None)
        if isinstance(nbytes, int):
            total += nbytes
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (str, bytes)):
            total += len(item)
    return total


def make_cache(mode: str = "graph", *, lru_entries: int = 0, ram_gb: float = 0.0) -> OutputCache:
    if mode == "none":
        return NoCache()
    if mode == "lru":
        return LRUCache(lru_entries)
    if mode == "ram":
        return RAMBudgetCache(int(ram_gb * 1024 ** 3))
    return GraphCache()
