"""Point 3: an ``async def VALIDATE_INPUTS`` (and ``IS_CHANGED``) is awaited, not counted as a failure."""
from __future__ import annotations


def prompt(value: int) -> dict:
    return {"1": {"class_type": "ConfAsyncHooks", "inputs": {"value": value}},
            "2": {"class_type": "ConfShow", "inputs": {"value": ["1", 0]}}}


def test_async_validate_inputs_passes_when_it_returns_true(conformance):
    outcome = conformance.run(prompt(4))
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["2"]["value"] == [5]


def test_async_validate_inputs_failure_is_reported(conformance):
    errors = conformance.validate(prompt(13))
    assert [e["details"] for e in errors["1"]["errors"]] == ["value - 13 is unlucky"]


def test_async_is_changed_result_is_used_as_the_fingerprint(conformance):
    conformance.run(prompt(21))
    again = conformance.run(prompt(21))
    assert "1" in again.cached  # an un-awaited coroutine would differ on every run
