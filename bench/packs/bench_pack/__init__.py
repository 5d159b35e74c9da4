"""The benchmarks' trivial output node (no I/O): measures the server and queue, not a node."""
from __future__ import annotations

from execution.declare import Int, node


@node("BenchEcho", category="bench", inputs=[Int("value", 0)], outputs=[], output_node=True)
def bench_echo(value: int):
    """Returns its value as a UI result."""
    return {"ui": {"value": [value]}}


PLEXUS_NODES = [bench_echo]
