"""Validation: every error type, in ComfyUI's shape, found in one pass; partial validity; cycles."""
from __future__ import annotations

from execution.plugins.comfy_v1 import schema_from_v1
from execution.validate import validate_prompt
from tests.execution.executor_nodes import build_registry


class PickyV1:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mode": (["a", "b"],), "level": ("INT", {"default": 1, "min": 0, "max": 10}),
                             "thing": ("INT,FLOAT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test"

    @classmethod
    def VALIDATE_INPUTS(cls, level):
        return True if level != 7 else "seven is unlucky"

    def run(self, mode, level, thing):
        return (level,)


class TypesV1:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"anything": ("IMAGE",)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def VALIDATE_INPUTS(cls, input_types):
        return True if input_types.get("anything") == "INT" else f"got {input_types}"

    def run(self, anything):
        return (str(anything),)


class KwargsV1:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"level": ("INT", {"min": 0, "max": 3})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs):
        return True

    def run(self, level):
        return (level,)


def registry():
    reg, _ = build_registry()
    reg.add(schema_from_v1("PickyV1", PickyV1))
    reg.add(schema_from_v1("TypesV1", TypesV1))
    reg.add(schema_from_v1("KwargsV1", KwargsV1))
    return reg


def errors_of(result, node_id):
    return [e["type"] for e in result.node_errors[node_id]["errors"]]


def show(source):
    return {"class_type": "TShow", "inputs": {"value": [source, 0]}}


def test_every_node_error_type_in_one_pass():
    prompt = {
        "missing": {"class_type": "TAdd", "inputs": {"b": 1}},
        "o1": show("missing"),
        "badlink": {"class_type": "TAdd", "inputs": {"a": ["nowhere", 0], "b": 1}},
        "o2": show("badlink"),
        "s": {"class_type": "TInt", "inputs": {"value": 1}},
        "badslot": {"class_type": "TAdd", "inputs": {"a": ["s", 3], "b": 1}},
        "o3": show("badslot"),
        "str": {"class_type": "TypesV1", "inputs": {"anything": ["s", 0]}},
        "mismatch": {"class_type": "TAdd", "inputs": {"a": ["str", 0], "b": 1}},
        "o4": show("mismatch"),
        "coerce": {"class_type": "TInt", "inputs": {"value": "twelve"}},
        "o5": show("coerce"),
        "small": {"class_type": "TInt", "inputs": {"value": -5000}},
        "o6": show("small"),
        "big": {"class_type": "TInt", "inputs": {"value": 10 ** 30}},
        "o7": show("big"),
        "combo": {"class_type": "PickyV1", "inputs": {"mode": "c", "level": 1, "thing": 1}},
        "o8": show("combo"),
        "custom": {"class_type": "PickyV1", "inputs": {"mode": "a", "level": 7, "thing": 1}},
        "o9": show("custom"),
    }
    result = validate_prompt(prompt, registry())
    assert not result.ok
    assert result.error["type"] == "prompt_outputs_failed_validation"
    assert errors_of(result, "missing") == ["required_input_missing"]
    assert errors_of(result, "badlink") == ["bad_linked_input"]
    assert errors_of(result, "badslot") == ["bad_linked_input"]
    assert errors_of(result, "mismatch") == ["return_type_mismatch"]
    assert errors_of(result, "coerce") == ["invalid_input_type"]
    assert errors_of(result, "small") == ["value_smaller_than_min"]
    assert errors_of(result, "big") == ["value_bigger_than_max"]
    assert errors_of(result, "combo") == ["value_not_in_list"]
    assert errors_of(result, "custom") == ["custom_validation_failed"]
    assert result.node_errors["missing"]["dependent_outputs"] == ["o1"]
    assert result.node_errors["missing"]["class_type"] == "TAdd"
    error = result.node_errors["missing"]["errors"][0]
    assert error["message"] == "Required input is missing" and error["details"] == "a"
    assert error["extra_info"]["input_name"] == "a"


def test_custom_validation_replaces_builtin_checks_for_named_inputs():
    reg = registry()
    # level is named by VALIDATE_INPUTS: its min/max check is off; 50 passes.
    ok = validate_prompt({"p": {"class_type": "PickyV1", "inputs": {"mode": "a", "level": 50, "thing": 1}},
                          "o": show("p")}, reg)
    assert ok.ok
    # **kwargs turns off every built-in check
    ok = validate_prompt({"k": {"class_type": "KwargsV1", "inputs": {"level": 99}}, "o": show("k")}, reg)
    assert ok.ok


def test_input_types_disables_link_type_check_and_receives_types():
    reg = registry()
    prompt = {"s": {"class_type": "TInt", "inputs": {"value": 1}},
              "t": {"class_type": "TypesV1", "inputs": {"anything": ["s", 0]}}, "o": show("t")}
    assert validate_prompt(prompt, reg).ok  # INT into IMAGE accepted: the node checks types itself


def test_comma_union_and_star_types_match():
    reg = registry()
    prompt = {"s": {"class_type": "TInt", "inputs": {"value": 1}},
              "p": {"class_type": "PickyV1", "inputs": {"mode": "a", "level": 1, "thing": ["s", 0]}},
              "o": show("p")}
    assert validate_prompt(prompt, reg).ok


def test_partially_valid_prompt_runs_the_valid_outputs():
    prompt = {"s": {"class_type": "TInt", "inputs": {"value": 1}}, "good": show("s"),
              "bad": {"class_type": "TAdd", "inputs": {}}, "o": show("bad")}
    result = validate_prompt(prompt, registry())
    assert result.ok and result.outputs == ["good"]
    assert "bad" in result.node_errors


def test_top_level_errors():
    reg = registry()
    assert validate_prompt({}, reg).error["type"] == "no_prompt"
    assert validate_prompt([1, 2], reg).error["type"] == "invalid_prompt"
    unknown = validate_prompt({"1": {"class_type": "Nope", "inputs": {}}}, reg)
    assert unknown.error["type"] == "invalid_prompt" and "Nope" in unknown.error["message"]
    assert validate_prompt({"1": {"inputs": {}}}, reg).error["type"] == "invalid_prompt"
    no_out = validate_prompt({"1": {"class_type": "TInt", "inputs": {"value": 1}}}, reg)
    assert no_out.error["type"] == "prompt_no_outputs"
    # Malformed nodes are errors in the same shape, not exceptions (found through ``main.py run``).
    unhashable = validate_prompt({"1": {"class_type": ["TInt"], "inputs": {}}}, reg)
    assert unhashable.error["type"] == "invalid_prompt" and "does not exist" in unhashable.error["message"]
    not_an_object = validate_prompt({"1": {"class_type": "TShow", "inputs": 5}}, reg)
    assert not not_an_object.ok and not_an_object.error["type"] == "prompt_outputs_failed_validation"
    assert {e["type"] for e in not_an_object.node_errors["1"]["errors"]} == {"required_input_missing"}


def test_static_cycle_is_an_error_not_a_hang():
    prompt = {"a": {"class_type": "TAdd", "inputs": {"a": ["b", 0], "b": 1}},
              "b": {"class_type": "TAdd", "inputs": {"a": ["a", 0], "b": 1}}, "o": show("a")}
    result = validate_prompt(prompt, registry())
    assert not result.ok
    assert any(e["type"] == "dependency_cycle" for v in result.node_errors.values() for e in v["errors"])


def test_deep_chain_validates_without_recursion():
    prompt = {"0": {"class_type": "TInt", "inputs": {"value": 0}}}
    for i in range(1, 20001):
        prompt[str(i)] = {"class_type": "TAdd", "inputs": {"a": [str(i - 1), 0], "b": 0}}
    prompt["o"] = show("20000")
    assert validate_prompt(prompt, registry()).ok


def test_constants_are_coerced_and_list_constants_unwrapped():
    result = validate_prompt({"s": {"class_type": "TInt", "inputs": {"value": "12"}}, "o": show("s")}, registry())
    assert result.ok and result.prompt["s"]["inputs"]["value"] == 12


def test_partial_execution_targets():
    reg = registry()
    prompt = {"s": {"class_type": "TInt", "inputs": {"value": 1}}, "a": show("s"), "b": show("s")}
    assert validate_prompt(prompt, reg, partial_execution_targets=["b"]).outputs == ["b"]
    assert validate_prompt(prompt, reg, partial_execution_targets=["zz"]).error["type"] == "invalid_prompt"


def test_object_info_shape_for_v1_and_declared_nodes():
    reg = registry()
    info = reg.object_info(None)
    picky = info["PickyV1"]
    assert picky["input"]["required"]["mode"] == [["a", "b"]]
    assert picky["input"]["required"]["level"] == ["INT", {"default": 1, "min": 0, "max": 10}]
    assert picky["input_order"] == {"required": ["mode", "level", "thing"]}
    assert picky["output"] == ["INT"] and picky["output_is_list"] == [False] and picky["output_name"] == ["INT"]
    assert picky["python_module"] == "custom_nodes" and picky["category"] == "test" and picky["output_node"] is False
    assert info["TRange"]["output_is_list"] == [True]
    assert set(picky) >= {"input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
                          "description", "python_module", "category", "output_node"}
