"""Point 2: V1 hooks are looked up on the class and called without an instance, as ComfyUI calls
them: a plain function (no ``self``) assigned as ``VALIDATE_INPUTS``/``IS_CHANGED`` works; a method
expecting ``self`` fails validation with ``exception_during_validation``."""
from __future__ import annotations


def plain(value: int) -> dict:
    return {"1": {"class_type": "ConfPlainHooks", "inputs": {"value": value}},
            "2": {"class_type": "ConfShow", "inputs": {"value": ["1", 0]}}}


def test_plain_function_validate_inputs_replaces_the_range_check(conformance):
    outcome = conformance.run(plain(50))  # above max=10: the hook names `value`, so it decides
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["2"]["value"] == [100]


def test_plain_function_validate_inputs_errors_in_comfyui_shape(conformance):
    errors = conformance.validate(plain(150))
    assert errors["1"]["errors"] == [{"type": "custom_validation_failed", "message": "Custom validation failed for node",
                                      "details": "value - 150 is not below 100", "extra_info": {"input_name": "value"}}]


def test_plain_function_is_changed_joins_the_cache_key(conformance):
    first = conformance.run(plain(7))
    again = conformance.run(plain(7))
    assert first.status == again.status == "success"
    assert "1" in again.cached and again.outputs["2"]["value"] == [14]


def test_a_validate_inputs_expecting_self_fails_like_comfyui(conformance):
    prompt = {"1": {"class_type": "ConfSelfValidate", "inputs": {"value": 1}},
              "2": {"class_type": "ConfShow", "inputs": {"value": ["1", 0]}}}
    errors = conformance.validate(prompt)
    assert errors["1"]["errors"][0]["type"] == "exception_during_validation"
    assert "self" in errors["1"]["errors"][0]["details"]
