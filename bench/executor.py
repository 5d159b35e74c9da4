"""Executor overhead: chains and fan-ins of trivial nodes, cold, cached and one-node-changed; and a
wide graph (1,000 x EmptyImage -> PreviewImage) through a real server.

Prints per-node overhead against a reference run in the same process (the same node functions
called directly in a Python loop), CPU time beside wall time, cached and partial re-runs as ratios
of the cold run, and the scaling from 100 to 10,000 nodes. The wide graph is posted to a real
``main.py serve`` subprocess and timed from POST to the end of the prompt, cold and cached, with
the server's CPU time. Targets: <= 50 us per node; cached 1,000-node re-run < 20 ms; the wide
graph cold < 1 s.
Run: python bench/executor.py [--repeat N] [--wide 1000] [--scratch DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from execution.cache import make_cache  # noqa: E402
from execution.declare import In, Int, Out, node, schemas_in  # noqa: E402
from execution.registry import NodeRegistry  # noqa: E402
from execution.runner import PromptRunner  # noqa: E402
from execution.validate import validate_prompt  # noqa: E402


def build_registry() -> NodeRegistry:
    module = types.ModuleType("bench_nodes")

    @node("BInt", category="bench", inputs=[Int("value", 0)], outputs=[Out("INT")])
    def b_int(value):
        return (value,)

    @node("BAdd", category="bench", inputs=[In("a", "INT"), Int("b", 1)], outputs=[Out("INT")])
    def b_add(a, b):
        return (a + b,)

    @node("BSum", category="bench", inputs=[], outputs=[Out("INT")])
    def b_sum(**values):
        return (sum(values.values()),)

    @node("BOut", category="bench", output_node=True, inputs=[In("value", "INT")], outputs=[])
    def b_out(value):
        return {"ui": {"value": [value]}}

    module.b_int, module.b_add, module.b_sum, module.b_out = b_int, b_add, b_sum, b_out
    registry = NodeRegistry()
    registry.add_all(schemas_in(module), builtin=True)
    return registry


def chain(n: int) -> dict:
    prompt = {"0": {"class_type": "BInt", "inputs": {"value": 0}}}
    for i in range(1, n):
        prompt[str(i)] = {"class_type": "BAdd", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "BOut", "inputs": {"value": [str(n - 1), 0]}}
    return prompt


def fan_in(n: int) -> dict:
    prompt = {str(i): {"class_type": "BInt", "inputs": {"value": i}} for i in range(n - 1)}
    prompt["sum"] = {"class_type": "BSum", "inputs": {f"v{i}": [str(i), 0] for i in range(n - 1)}}
    prompt["out"] = {"class_type": "BOut", "inputs": {"value": ["sum", 0]}}
    return prompt


def direct_reference(prompt: dict, registry: NodeRegistry) -> float:
    """The same node functions called directly in topological order: the work itself."""
    order = list(prompt)
    start = time.perf_counter()
    values: dict[str, object] = {}
    for node_id in order:
        node = prompt[node_id]
        kwargs = {k: (values[v[0]] if isinstance(v, list) else v) for k, v in node["inputs"].items()}
        result = registry.get(node["class_type"]).invoke(None, None, kwargs)
        values[node_id] = result[0] if isinstance(result, tuple) else result
    return time.perf_counter() - start


def timed_run(runner: PromptRunner, prompt: dict, registry: NodeRegistry) -> tuple[float, float, int, float]:
    """(wall s, validation wall s, nodes executed, CPU s)."""
    start, cpu = time.perf_counter(), time.process_time()
    validation = validate_prompt(prompt, registry)
    validated = time.perf_counter()
    result = runner.run("bench", validation.prompt, validation.outputs, lambda e: None)
    end = time.perf_counter()
    assert result.status == "success", result.error
    return end - start, validated - start, len(result.executed), time.process_time() - cpu


def measure(kind: str, n: int, repeat: int, registry: NodeRegistry) -> dict:
    build = chain if kind == "chain" else fan_in
    cold, cold_cpu, cached, changed, validation, reference = [], [], [], [], [], []
    for _ in range(repeat):
        runner = PromptRunner(registry, make_cache())
        prompt = build(n)
        reference.append(direct_reference(prompt, registry))
        total, valid, executed, cpu = timed_run(runner, prompt, registry)
        assert executed == len(prompt), (executed, len(prompt))
        cold.append(total)
        cold_cpu.append(cpu)
        validation.append(valid)
        total, _, executed, _ = timed_run(runner, prompt, registry)
        assert executed == 0
        cached.append(total)
        middle = str(n // 2)
        prompt[middle]["inputs"]["b" if kind == "chain" else "value"] = 7
        total, _, executed, _ = timed_run(runner, prompt, registry)
        changed.append(total)
        runner.close()
    return {"cold": min(cold), "cold_cpu": min(cold_cpu), "cached": min(cached), "changed": min(changed), "validate": min(validation),
            "reference": min(reference), "changed_executed": executed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--wide", type=int, default=1000, help="outputs of the wide graph (0: skip it)")
    parser.add_argument("--scratch", default=None, help="folder for the wide graph server's base directory "
                        "(default: the system temp folder; file creation costs differ between file systems)")
    args = parser.parse_args()
    registry = build_registry()
    measure("chain", 200, 2, registry)  # warm-up

    print(f"{'graph':<14}{'nodes':>7}{'cold ms':>10}{'CPU ms':>9}{'us/node':>9}{'overhead us/node':>18}"
          f"{'cached ms':>11}{'cached/cold':>12}{'1 changed ms':>14}{'changed/cold':>13}")
    for kind in ("chain", "fan-in"):
        r = measure("chain" if kind == "chain" else "fanin", 1000, args.repeat, registry)
        overhead = (r["cold"] - r["reference"]) / 1000 * 1e6
        print(f"{kind:<14}{1000:>7}{r['cold'] * 1e3:>10.2f}{r['cold_cpu'] * 1e3:>9.2f}"
              f"{r['cold'] / 1000 * 1e6:>9.1f}{overhead:>18.1f}"
              f"{r['cached'] * 1e3:>11.2f}{r['cached'] / r['cold']:>12.3f}{r['changed'] * 1e3:>14.2f}"
              f"{r['changed'] / r['cold']:>13.3f}")
    print("\nscaling (chain, cold, validation included):")
    per_node = []
    for n in (100, 1000, 10000):
        r = measure("chain", n, max(2, args.repeat // 2) if n == 10000 else args.repeat, registry)
        per_node.append(r["cold"] / n * 1e6)
        print(f"  {n:>6} nodes: {r['cold'] * 1e3:9.2f} ms  ({per_node[-1]:.1f} us/node, validate "
              f"{r['validate'] * 1e3:.2f} ms, cached re-run {r['cached'] * 1e3:.2f} ms)")
    print(f"  per-node cost ratio 10,000 vs 100 nodes: {per_node[-1] / per_node[0]:.2f} (1.0 = linear)")
    if args.wide:
        wide_graph_through_the_server(args.wide, max(3, args.repeat // 2), args.scratch)
    print("targets: <= 50 us/node; cached 1,000-node re-run < 20 ms; wide graph cold < 1 s")


def wide_graph_through_the_server(outputs: int, repeat: int, scratch: str | None = None) -> None:
    """``outputs`` x (EmptyImage -> PreviewImage) posted to a real server: cold (a new colour each
    time, so nothing is cached) and cached (the same prompt again)."""
    import tempfile

    from bench.live_server import Client, LiveServer, wide_prompt

    with tempfile.TemporaryDirectory(dir=scratch) as base:
        server = LiveServer(Path(base))
        server.wait_ready()
        client = Client(server.port)
        try:
            client.run(wide_prompt(4), "warm")  # imports torch and PIL
            results: dict[str, list[tuple[float, float]]] = {"cold": [], "cached": []}
            for index in range(repeat):
                prompt = wide_prompt(outputs)
                for node in prompt.values():
                    if node["class_type"] == "EmptyImage":
                        node["inputs"]["color"] = (node["inputs"]["color"] + index * outputs) % 0xFFFFFF
                for kind in ("cold", "cached"):
                    cpu, started = server.cpu_seconds(), time.perf_counter()
                    client.run(prompt, f"wide-{kind}-{index}")
                    results[kind].append((time.perf_counter() - started, server.cpu_seconds() - cpu))
        finally:
            client.close()
            server.stop()
    print(f"\nwide graph through the server: {outputs} x (EmptyImage 64x64 -> PreviewImage), min of {repeat}, "
          f"files under {Path(base).parent}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for kind, runs in results.items():
        wall, cpu = min(runs)
        print(f"  {kind:<6} {wall:7.3f} s wall, server CPU {cpu:7.3f} s ({cpu / outputs * 1e3:.2f} ms per output)")


if __name__ == "__main__":
    main()
