"""Test-only nodes for the executor tests, in both front doors (declared and V1 classes)."""
from __future__ import annotations

import asyncio
import time
import types

from execution.declare import In, Int, Out, String, node, schemas_in
from execution.graph import ExecutionBlocker
from execution.registry import NodeRegistry


class Calls:
    """Records which test nodes ran (per registry)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.intervals: list[tuple[float, float]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.log]


def build_registry() -> tuple[NodeRegistry, Calls]:
    calls = Calls()
    module = types.ModuleType("executor_test_nodes")

    @node("TInt", category="test", inputs=[Int("value", 0, min=-1000, max=1000)], outputs=[Out("INT")])
    def t_int(value):
        calls.log.append(("TInt", value))
        return (value,)

    @node("TAdd", category="test", inputs=[In("a", "INT"), Int("b", 1, min=-1000, max=1000)], outputs=[Out("INT")])
    def t_add(a, b):
        calls.log.append(("TAdd", (a, b)))
        return (a + b,)

    @node("TShow", category="test", output_node=True, inputs=[In("value", "*")], outputs=[])
    def t_show(value):
        calls.log.append(("TShow", value))
        return {"ui": {"value": [value]}}

    @node("TSwitch", category="test", inputs=[Int("which", 0, min=0, max=1), In("on_true", "INT", lazy=True),
                                              In("on_false", "INT", lazy=True)],
          outputs=[Out("INT")],
          check_lazy=lambda which, on_true=None, on_false=None: ["on_true"] if which else ["on_false"])
    def t_switch(which, on_true=None, on_false=None):
        return (on_true if which else on_false,)

    @node("TRange", category="test", inputs=[Int("count", 3, min=0, max=100)], outputs=[Out("INT", is_list=True)])
    def t_range(count):
        return (list(range(count)),)

    @node("TSleep", category="test", inputs=[In("value", "INT"), String("tag", "")], outputs=[Out("INT")])
    async def t_sleep(value, tag):
        start = time.perf_counter()
        await asyncio.sleep(0.25)
        calls.intervals.append((start, time.perf_counter()))
        return (value,)

    @node("TBlock", category="test", inputs=[In("value", "INT"), String("message", "")],
          outputs=[Out("INT", is_list=True)])
    def t_block(value, message):
        blocker = ExecutionBlocker(message or None)
        return ([value, blocker, value + 1],)

    @node("TFail", category="test", inputs=[In("value", "INT")], outputs=[Out("INT")])
    def t_fail(value):
        raise ValueError(f"boom {value}")

    @node("TCountdown", category="test", inputs=[In("value", "INT"), Int("remaining", 3, min=0, max=100)],
          outputs=[Out("INT")])
    def t_countdown(ctx, value, remaining):
        """A loop by repeated expansion: add 10 and expand into the next iteration."""
        if remaining == 0:
            return (value,)
        base = f"{ctx.node_id}.{remaining}"
        return {"result": ([f"{base}.next", 0],), "expand": {
            f"{base}.add": {"class_type": "TAdd", "inputs": {"a": value, "b": 10}},
            f"{base}.next": {"class_type": "TCountdown", "inputs": {"value": [f"{base}.add", 0],
                                                                     "remaining": remaining - 1}}}}

    @node("TSelfCycle", category="test", inputs=[In("value", "INT")], outputs=[Out("INT")])
    def t_self_cycle(ctx, value):
        """Expands into two nodes that feed each other: a cycle created at run time."""
        a, b = f"{ctx.node_id}.a", f"{ctx.node_id}.b"
        return {"result": ([a, 0],), "expand": {a: {"class_type": "TAdd", "inputs": {"a": [b, 0]}},
                                                 b: {"class_type": "TAdd", "inputs": {"a": [a, 0]}}}}

    for fn in (t_int, t_add, t_show, t_switch, t_range, t_sleep, t_block, t_fail, t_countdown, t_self_cycle):
        setattr(module, fn.__name__, fn)
    registry = NodeRegistry()
    registry.add_all(schemas_in(module), builtin=True)
    return registry, calls
