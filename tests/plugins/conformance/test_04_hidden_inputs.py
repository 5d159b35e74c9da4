"""Point 4: only the special hidden kinds (PROMPT, UNIQUE_ID, ...) declared as plain strings are
filled by the executor; every other hidden entry (``("*",)`` loop counters, ``("UNIQUE_ID",)``) is an
ordinary input: passed when the prompt carries it, linked or constant, and absent otherwise."""
from __future__ import annotations


def test_ordinary_hidden_inputs_are_passed_as_given(conformance):
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 41}},
              "5": {"class_type": "ConfHiddenInputs",
                    "inputs": {"initial_value0": ["1", 0], "note": "kept", "tuple_id": "given", "unique_id": "fake"}}}
    outcome = conformance.run(prompt)
    assert outcome.status == "success", outcome.error
    ui = outcome.outputs["5"]
    assert ui["initial_value0"] == [41] and ui["note"] == ["kept"] and ui["tuple_id"] == ["given"]
    assert ui["unique_id"] == ["5"] and ui["prompt_has_me"] == [True]  # special kinds: the executor's values


def test_absent_ordinary_hidden_inputs_are_not_passed(conformance):
    outcome = conformance.run({"7": {"class_type": "ConfHiddenInputs", "inputs": {}}})
    ui = outcome.outputs["7"]
    assert ui["initial_value0"] == ["absent"] and ui["note"] == ["absent"]
    assert ui["tuple_id"] == ["absent"]  # ("UNIQUE_ID",) is not a special kind


def test_object_info_lists_hidden_entries_as_declared(conformance):
    hidden = conformance.object_info()["ConfHiddenInputs"]["input"]["hidden"]
    assert hidden["unique_id"] == "UNIQUE_ID" and hidden["tuple_id"] == ["UNIQUE_ID"]
    assert hidden["initial_value0"] == ["*"]
