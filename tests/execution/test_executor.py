"""Executor semantics: laziness, caching, expansion, lists, async, blockers, errors, interrupt."""
from __future__ import annotations

import threading

import pytest

from execution.cache import make_cache
from execution.context import InterruptFlag
from execution.runner import PromptRunner
from execution.validate import validate_prompt
from tests.execution.executor_nodes import build_registry


class Harness:
    def __init__(self, cache_mode: str = "graph", **cache_args):
        self.registry, self.calls = build_registry()
        self.interrupt = InterruptFlag()
        self.runner = PromptRunner(self.registry, make_cache(cache_mode, **cache_args), None, self.interrupt)
        self.events: list = []

    def run(self, prompt: dict, prompt_id: str = "p"):
        validation = validate_prompt(prompt, self.registry)
        assert validation.ok, validation.response()
        self.events = []
        self.calls.log.clear()
        return self.runner.run(prompt_id, validation.prompt, validation.outputs, self.events.append)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def chain_prompt(length: int, start: int = 0) -> dict:
    prompt = {"0": {"class_type": "TInt", "inputs": {"value": start}}}
    for i in range(1, length + 1):
        prompt[str(i)] = {"class_type": "TAdd", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "TShow", "inputs": {"value": [str(length), 0]}}
    return prompt


def test_chain_result_and_event_order():
    h = Harness()
    result = h.run(chain_prompt(5))
    assert result.status == "success"
    assert result.outputs["out"] == {"value": [5]}
    types = h.types()
    assert types[0] == "execution_start" and types[1] == "execution_cached"
    assert types[-2:] == ["execution_success", "executing"] and h.events[-1].node is None
    assert [e.node for e in h.events if e.type == "executing"][:-1] == ["0", "1", "2", "3", "4", "5", "out"]


def test_unreachable_nodes_never_run():
    h = Harness()
    prompt = chain_prompt(2)
    prompt["orphan"] = {"class_type": "TInt", "inputs": {"value": 99}}
    h.run(prompt)
    assert ("TInt", 99) not in h.calls.log


def test_lazy_branch_not_run():
    h = Harness()
    prompt = {
        "t": {"class_type": "TInt", "inputs": {"value": 1}},
        "f": {"class_type": "TInt", "inputs": {"value": 2}},
        "s": {"class_type": "TSwitch", "inputs": {"which": 1, "on_true": ["t", 0], "on_false": ["f", 0]}},
        "out": {"class_type": "TShow", "inputs": {"value": ["s", 0]}},
    }
    result = h.run(prompt)
    assert result.outputs["out"] == {"value": [1]}
    assert ("TInt", 1) in h.calls.log and ("TInt", 2) not in h.calls.log
    prompt["s"]["inputs"]["which"] = 0
    result = h.run(prompt)
    assert result.outputs["out"] == {"value": [2]}
    assert h.calls.names() == ["TInt", "TShow"]  # only the newly needed branch and the consumer


def test_rerun_unchanged_executes_nothing_and_reports_all_cached():
    h = Harness()
    prompt = chain_prompt(20)
    h.run(prompt)
    result = h.run(prompt)
    assert result.executed == []
    assert sorted(result.cached) == sorted(prompt)
    assert result.outputs["out"] == {"value": [20]}  # cached outputs are still reported
    assert any(e.type == "executed" and e.node == "out" for e in h.events)


def test_changing_one_widget_reexecutes_exactly_it_and_descendants():
    h = Harness()
    prompt = chain_prompt(10)
    h.run(prompt)
    prompt["6"]["inputs"]["b"] = 5
    result = h.run(prompt)
    assert sorted(result.executed) == sorted(["6", "7", "8", "9", "10", "out"])
    assert result.outputs["out"] == {"value": [14]}


def test_expansion_loop_result():
    h = Harness()
    prompt = {
        "v": {"class_type": "TInt", "inputs": {"value": 1}},
        "loop": {"class_type": "TCountdown", "inputs": {"value": ["v", 0], "remaining": 4}},
        "out": {"class_type": "TShow", "inputs": {"value": ["loop", 0]}},
    }
    result = h.run(prompt)
    assert result.status == "success", result.error
    assert result.outputs["out"] == {"value": [41]}
    adds = [args for name, args in h.calls.log if name == "TAdd"]
    assert adds == [(1, 10), (11, 10), (21, 10), (31, 10)]
    executing = [e for e in h.events if e.type == "executing" and e.node and e.node.startswith("loop.")]
    assert executing and all(e.display_node == "loop" for e in executing)


def test_runtime_cycle_from_expansion_is_reported_against_its_maker():
    h = Harness()
    prompt = {"v": {"class_type": "TInt", "inputs": {"value": 1}},
              "c": {"class_type": "TSelfCycle", "inputs": {"value": ["v", 0]}},
              "out": {"class_type": "TShow", "inputs": {"value": ["c", 0]}}}
    result = h.run(prompt)
    assert result.status == "error"
    assert result.error["node_id"] == "c"
    assert "cycle" in result.error["exception_message"].lower()


def test_list_mapping_counts_and_last_element_repeats():
    h = Harness()
    prompt = {
        "r": {"class_type": "TRange", "inputs": {"count": 3}},
        "add": {"class_type": "TAdd", "inputs": {"a": ["r", 0], "b": 100}},
        "out": {"class_type": "TShow", "inputs": {"value": ["add", 0]}},
    }
    result = h.run(prompt)
    assert [args for name, args in h.calls.log if name == "TAdd"] == [(0, 100), (1, 100), (2, 100)]
    assert result.outputs["out"] == {"value": [100, 101, 102]}


def test_async_nodes_overlap():
    h = Harness()
    prompt = {"v": {"class_type": "TInt", "inputs": {"value": 1}}}
    for i in range(3):
        prompt[f"s{i}"] = {"class_type": "TSleep", "inputs": {"value": ["v", 0], "tag": str(i)}}
        prompt[f"o{i}"] = {"class_type": "TShow", "inputs": {"value": [f"s{i}", 0]}}
    result = h.run(prompt)
    assert result.status == "success"
    starts = sorted(s for s, _ in h.calls.intervals)
    ends = sorted(e for _, e in h.calls.intervals)
    assert len(starts) == 3 and starts[-1] < ends[0], "all three sleeps must be in flight at once"


def test_silent_blocker_stops_only_its_item():
    h = Harness()
    prompt = {"v": {"class_type": "TInt", "inputs": {"value": 5}},
              "b": {"class_type": "TBlock", "inputs": {"value": ["v", 0], "message": ""}},
              "add": {"class_type": "TAdd", "inputs": {"a": ["b", 0], "b": 1}},
              "out": {"class_type": "TShow", "inputs": {"value": ["add", 0]}}}
    result = h.run(prompt)
    assert result.status == "success"
    assert [args for name, args in h.calls.log if name == "TAdd"] == [(5, 1), (6, 1)]


def test_blocker_with_message_is_an_error():
    h = Harness()
    prompt = {"v": {"class_type": "TInt", "inputs": {"value": 5}},
              "b": {"class_type": "TBlock", "inputs": {"value": ["v", 0], "message": "nope"}},
              "out": {"class_type": "TShow", "inputs": {"value": ["b", 0]}}}
    result = h.run(prompt)
    assert result.status == "error"
    assert "nope" in result.error["exception_message"]


def test_node_error_event_carries_details():
    h = Harness()
    prompt = {"v": {"class_type": "TInt", "inputs": {"value": 7}},
              "f": {"class_type": "TFail", "inputs": {"value": ["v", 0]}},
              "out": {"class_type": "TShow", "inputs": {"value": ["f", 0]}}}
    result = h.run(prompt)
    assert result.status == "error"
    error = [e for e in h.events if e.type == "execution_error"][0].data()
    assert error["node_id"] == "f" and error["node_type"] == "TFail"
    assert error["exception_message"] == "boom 7" and error["exception_type"].endswith("ValueError")
    assert any("boom 7" in line for line in error["traceback"])
    assert error["executed"] == ["v"]
    assert h.events[-1].type == "executing" and h.events[-1].node is None
    # the failed node is not cached: a fixed graph re-runs it
    prompt["f"] = {"class_type": "TAdd", "inputs": {"a": ["v", 0], "b": 0}}
    assert h.run(prompt).outputs["out"] == {"value": [7]}


def test_interrupt_between_nodes():
    h = Harness()
    prompt = chain_prompt(3)
    original = h.registry.get("TAdd").invoke

    def interrupting(instance, ctx, kwargs):
        h.interrupt.set()
        return original(instance, ctx, kwargs)

    h.registry.get("TAdd").invoke = interrupting
    result = h.run(prompt)
    assert result.status == "interrupted"
    assert result.executed == ["0", "1"]
    interrupted = [e for e in h.events if e.type == "execution_interrupted"][0]
    assert interrupted.node_id == "2"


def test_progress_checks_interrupt():
    from execution.context import InterruptedError_, NodeContext

    flag = InterruptFlag()
    seen = []
    ctx = NodeContext(node_id="1", display_node_id="1", class_type="X", prompt_id="p", services=None, prompt={},
                      extra_data={}, emit=seen.append, interrupt=flag)
    ctx.progress(1, 4)
    flag.set()
    with pytest.raises(InterruptedError_):
        ctx.progress(2, 4)
    assert [e.value for e in seen] == [1, 2]


def test_lru_cache_keeps_the_most_recent_entries():
    h = Harness("lru", lru_entries=3)
    prompt = chain_prompt(6)
    h.run(prompt)
    assert len(h.runner.cache) == 3
    assert h.run(prompt).executed == []  # the output itself is among the 3 most recent


def test_no_cache_reruns_everything():
    h = Harness("none")
    prompt = chain_prompt(6)
    h.run(prompt)
    assert len(h.run(prompt).executed) == 8


def test_ram_budget_evicts_biggest_and_oldest_first():
    from execution.cache import CacheEntry, RAMBudgetCache

    class Blob:
        def __init__(self, nbytes):
            self.nbytes = nbytes

    cache = RAMBudgetCache(budget_bytes=1000)
    cache.put("small-old", CacheEntry([[Blob(100)]]))
    cache.put("big", CacheEntry([[Blob(800)]]))
    cache.put("small-new", CacheEntry([[Blob(100)]]))
    cache.end_prompt(set())
    assert len(cache) == 3  # 1000 bytes: within budget
    cache.put("another", CacheEntry([[Blob(300)]]))
    cache.end_prompt(set())
    assert cache.get("big") is None and cache.get("small-old") is not None and cache.get("another") is not None


def test_lru_keeps_entries_across_prompts():
    h = Harness("lru", lru_entries=100)
    a, b = chain_prompt(3, start=0), chain_prompt(3, start=50)
    h.run(a)
    h.run(b)
    assert h.run(a).executed == []  # the graph cache would have dropped a's entries


def test_graph_cache_drops_entries_of_old_graphs():
    h = Harness()
    a, b = chain_prompt(3, start=0), chain_prompt(3, start=50)
    h.run(a)
    h.run(b)
    assert len(h.run(a).executed) == 5


def test_concurrent_interrupt_from_another_thread():
    h = Harness()
    prompt = {"v": {"class_type": "TInt", "inputs": {"value": 1}},
              "s": {"class_type": "TSleep", "inputs": {"value": ["v", 0], "tag": "x"}},
              "s2": {"class_type": "TSleep", "inputs": {"value": ["s", 0], "tag": "y"}},
              "out": {"class_type": "TShow", "inputs": {"value": ["s2", 0]}}}
    timer = threading.Timer(0.1, h.interrupt.set)
    timer.start()
    result = h.run(prompt)
    timer.join()
    assert result.status == "interrupted"
    assert "out" not in result.executed
