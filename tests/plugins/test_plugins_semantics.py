"""Execution semantics of third-party V1 packs (tests/plugins/packs), each scenario run twice:
in-process through PromptRunner, and through the real server (POST /prompt + websocket + history)."""
from __future__ import annotations

import json
import uuid

from tests.fixtures.plugins import InProcess, const, show


# -- lazy inputs --------------------------------------------------------------------------------------
def test_lazy_switch_evaluates_only_the_branch_it_asks_for(backend):
    prompt = {"1": const(7), "2": {"class_type": "TestExplode", "inputs": {}},
              "3": {"class_type": "TestLazySwitch", "inputs": {"switch": True, "on_true": ["1", 0], "on_false": ["2", 0]}},
              "4": show("3")}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["4"]["value"] == [7]
    prompt["3"]["inputs"]["switch"] = False  # now the exploding branch is needed, and runs
    failed = backend.run(prompt)
    assert failed.status == "error"
    assert failed.error["node_id"] == "2" and "Explode ran" in failed.error["exception_message"]


def test_check_lazy_status_is_asked_again_after_each_evaluation(backend):
    prompt = {"1": const(9), "2": const(4),
              "3": {"class_type": "TestLazyThreshold", "inputs": {"threshold": 5, "a": ["1", 0], "b": ["2", 0]}},
              "4": show("3")}
    assert backend.run(prompt).outputs["4"]["value"] == [13]  # a > threshold: b was requested too
    prompt["1"] = const(2)
    prompt["2"] = {"class_type": "TestExplode", "inputs": {}}
    outcome = backend.run(prompt)  # a <= threshold: b (which would fail) is never evaluated
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["4"]["value"] == [2]


# -- IS_CHANGED -----------------------------------------------------------------------------------------
def test_is_changed_false_is_cached_and_nan_always_reruns(backend):
    seed = uuid.uuid4().int % 900
    prompt = {"1": {"class_type": "TestChangedFalse", "inputs": {"value": seed}}, "2": show("1"),
              "3": {"class_type": "TestChangedNaN", "inputs": {"value": seed}}, "4": show("3")}
    first = backend.run(prompt)
    assert first.status == "success" and "1" not in first.cached and "3" not in first.cached
    second = backend.run(prompt)
    assert "1" in second.cached and "2" in second.cached  # False == False: unchanged
    assert "3" not in second.cached and "4" not in second.cached  # NaN: never equal
    assert second.outputs["4"]["value"] == [seed]


def test_is_changed_hash_reruns_only_when_the_file_changes(backend, plugin_env, request):
    input_dir = (plugin_env.services.paths.input_dir if isinstance(backend, InProcess)
                 else request.getfixturevalue("plugin_server").base_dir / "input")
    name = f"hash-{uuid.uuid4().hex[:8]}.txt"
    (input_dir / name).write_text("one")
    prompt = {"1": {"class_type": "TestChangedFileHash", "inputs": {"filename": name}}, "2": show("1")}
    assert backend.run(prompt).outputs["2"]["value"] == ["one"]
    again = backend.run(prompt)
    assert "1" in again.cached
    (input_dir / name).write_text("two")
    changed = backend.run(prompt)
    assert "1" not in changed.cached and changed.outputs["2"]["value"] == ["two"]


# -- VALIDATE_INPUTS ---------------------------------------------------------------------------------------
def test_validate_inputs_with_input_types_accepts_a_mismatched_link(backend):
    prompt = {"1": {"class_type": "TestTextConstant", "inputs": {"text": "hi"}},
              "2": {"class_type": "TestAcceptNumberOrText", "inputs": {"value": ["1", 0]}}, "3": show("2")}
    assert backend.validate(prompt) == {}
    assert backend.run(prompt).outputs["3"]["value"] == ["str:hi"]


def test_validate_inputs_with_kwargs_replaces_the_range_check(backend):
    ok = {"1": {"class_type": "TestWideRange", "inputs": {"amount": 50, "label": "n"}}, "2": show("1")}
    assert backend.run(ok).outputs["2"]["value"] == ["n50"]  # above the declared max of 10
    bad = {"1": {"class_type": "TestWideRange", "inputs": {"amount": 500, "label": "n"}}, "2": show("1")}
    errors = backend.validate(bad)
    assert errors["1"]["errors"][0]["type"] == "custom_validation_failed"
    assert "at most 100" in errors["1"]["errors"][0]["details"]


# -- lists, blockers, variadic inputs ---------------------------------------------------------------------------
def test_output_is_list_maps_and_input_is_list_gathers(backend):
    prompt = {"1": {"class_type": "TestRange", "inputs": {"count": 3}},
              "2": {"class_type": "TestScale", "inputs": {"value": ["1", 0], "factor": 10}},
              "3": {"class_type": "TestListSum", "inputs": {"values": ["2", 0], "offset": 1}},
              "4": show("3", 0), "5": show("3", 1)}
    outcome = backend.run(prompt)
    assert outcome.outputs["4"]["value"] == [31] and outcome.outputs["5"]["value"] == [3]


def test_shorter_list_repeats_its_last_item(backend):
    prompt = {"1": {"class_type": "TestRange", "inputs": {"count": 4}},
              "2": {"class_type": "TestRange", "inputs": {"count": 2}},
              "3": {"class_type": "TestScale", "inputs": {"value": ["1", 0], "factor": ["2", 0]}},
              "4": {"class_type": "TestListSum", "inputs": {"values": ["3", 0], "offset": 0}}, "5": show("4")}
    assert backend.run(prompt).outputs["5"]["value"] == [0 * 0 + 1 * 1 + 2 * 1 + 3 * 1]


def test_execution_blocker_inside_a_list_blocks_only_its_item(backend):
    prompt = {"1": {"class_type": "TestWordsWithBlocker", "inputs": {"text": "alpha beta gamma", "blocked_word": "beta"}},
              "2": {"class_type": "TestCollectText", "inputs": {"text": ["1", 0]}}}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["2"]["text"] == ["alpha", "gamma"]


def test_variadic_linked_inputs_arrive_through_kwargs(backend):
    prompt = {"1": {"class_type": "TestTextConstant", "inputs": {"text": "a"}}, "2": const(2),
              "3": {"class_type": "TestTextConstant", "inputs": {"text": "c"}},
              "6": {"class_type": "TestPassAny", "inputs": {"value": ["2", 0]}},  # AnyType wildcard
              "4": {"class_type": "TestJoinAny", "inputs": {"separator": "-", "input_1": ["1", 0],
                                                            "input_2": ["6", 0], "input_3": ["3", 0],
                                                            "ignored_constant": "zzz"}},
              "5": show("4")}
    assert backend.run(prompt).outputs["5"]["value"] == ["a-2-c"]


# -- node expansion -------------------------------------------------------------------------------------------
def test_for_loop_by_node_expansion_with_graph_builder(backend):
    prompt = {"1": const(100),
              "2": {"class_type": "TestForLoopOpen", "inputs": {"total": 4, "value": ["1", 0]}},
              "3": {"class_type": "TestAddInt", "inputs": {"a": ["2", 2], "b": 5}},
              "4": {"class_type": "TestForLoopClose", "inputs": {"flow": ["2", 0], "value": ["3", 0]}},
              "5": show("4")}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["5"]["value"] == [120]  # four iterations of +5
    started = [d["node"] for d in outcome.of_type("executing") if d["node"]]
    expanded = [n for n in started if n.startswith("4.0.0.")]
    assert expanded, started  # ids are prefixed by the expanding node: globally unique
    assert len(set(started)) == len(started)


# -- async --------------------------------------------------------------------------------------------------------
def test_async_nodes_overlap_in_time(backend):
    prompt = {"1": {"class_type": "TestAsyncSleep", "inputs": {"seconds": 0.4, "tag": "a"}},
              "2": {"class_type": "TestAsyncSleep", "inputs": {"seconds": 0.4, "tag": "b"}}}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    (start_a, end_a), (start_b, end_b) = outcome.outputs["1"]["span"], outcome.outputs["2"]["span"]
    assert max(start_a, start_b) < min(end_a, end_b), "the two async nodes did not run concurrently"


# -- progress -----------------------------------------------------------------------------------------------------
def test_progress_bar_updates_reach_the_client(backend):
    prompt = {"1": {"class_type": "TestCountWithProgress", "inputs": {"steps": 4, "delay": 0.0, "size": 64}}}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    progress = [(d["value"], d["max"], d["node"]) for d in outcome.of_type("progress")]
    assert progress == [(1, 4, "1"), (2, 4, "1"), (3, 4, "1"), (4, 4, "1")]


def test_v3_entrypoint_nodes_run(backend):
    prompt = {"1": {"class_type": "TestV3Greeting", "inputs": {"name": "plexus"}}, "2": show("1")}
    assert backend.run(prompt).outputs["2"]["value"] == ["hello plexus"]


def test_plexus_native_example_pack_runs(backend):
    prompt = {"1": {"class_type": "ExampleSplitWords", "inputs": {"text": "red green blue", "separator": " "}},
              "2": {"class_type": "ExampleJoinWords", "inputs": {"words": ["1", 0], "separator": "+"}},
              "3": {"class_type": "ExampleSwitch", "inputs": {"use_second": False, "first": ["2", 0],
                                                            "second": ["4", 0]}},
              "4": {"class_type": "TestExplode", "inputs": {}},
              "5": show("3"), "6": show("1", 1)}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["5"]["value"] == ["red+green+blue"]
    assert outcome.outputs["6"]["value"] == [3]
    gradient = {"1": {"class_type": "ExampleGradient", "inputs": {"width": 16, "height": 8, "direction": "vertical",
                                                                 "steps": 3}},
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    painted = backend.run(gradient)
    assert painted.status == "success", painted.error
    assert [d["value"] for d in painted.of_type("progress") if d["node"] == "1"] == [1, 2, 3]
    assert painted.outputs["2"]["images"][0]["type"] == "temp"


def test_event_payloads_are_json(backend):
    outcome = backend.run({"1": const(3), "2": show("1")})
    json.dumps(outcome.events)


def test_runner_works_when_called_from_a_running_event_loop(plugin_env):
    """Regression: PromptRunner.run inside a running loop (async code, a sync Playwright session)
    used to raise 'Cannot run the event loop while another loop is running'."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    runner = plugin_env.runner()

    async def from_async_code():
        return runner.run({"1": const(5), "2": show("1")})

    def in_a_fresh_thread():  # asyncio.run here would trip over a loop another test left running
        return asyncio.run(from_async_code())

    try:
        with ThreadPoolExecutor(1) as pool:
            outcome = pool.submit(in_a_fresh_thread).result()
    finally:
        runner.close()
    assert outcome.result.status == "success" and outcome.result.outputs["2"]["value"] == [5]
