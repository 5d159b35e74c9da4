"""V3 dynamic inputs (io.DynamicCombo, io.Autogrow) from a pack: the fixture pack
tests/plugins/packs/v3_dynamic_pack loads through the real loader, /object_info shows the frontend's
COMFY_DYNAMICCOMBO_V3/COMFY_AUTOGROW_V3 shapes, prompts with dotted names run (in-process and through
the server) and execute receives ComfyUI's dict per dynamic input, missing sub-inputs fail validation,
and editor widgets_values convert through the chosen option's widgets."""
from __future__ import annotations

import json

import pytest

from tests.fixtures.plugins import const, show


def test_dynamic_pack_loads_with_every_node(plugin_env):
    pack = plugin_env.report.pack("v3_dynamic_pack")
    assert pack.loaded and pack.kind == "v3" and not pack.node_errors
    assert set(pack.nodes) == {"TestV3DynamicMath", "TestV3AutogrowSum", "TestV3AutogrowJoin",
                                  "TestV3PickMatching"}


def test_object_info_has_the_frontend_shapes(plugin_server):
    info = plugin_server.get_json("/object_info")
    kind, combo = info["TestV3DynamicMath"]["input"]["required"]["operation"]
    assert kind == "COMFY_DYNAMICCOMBO_V3" and combo["tooltip"] == "what to compute"
    assert [o["key"] for o in combo["options"]] == ["add", "repeat", "width", "nothing"]
    assert combo["options"][0]["inputs"] == {"required": {"a": ["INT", {"default": 1}], "b": ["INT", {"default": 2}]}}
    assert combo["options"][1]["inputs"] == {"required": {"text": ["STRING", {"default": "ab"}]},
                                             "optional": {"times": ["INT", {"default": 2, "min": 1, "max": 5}]}}
    assert combo["options"][2]["inputs"]["required"]["image"] == ["IMAGE", {}]
    assert combo["options"][3]["inputs"] == {}
    grow = info["TestV3AutogrowSum"]["input"]["required"]["values"]
    assert grow == ["COMFY_AUTOGROW_V3", {"template": {"input": {"required": {"value": ["INT", {
        "default": 0, "forceInput": True}]}}, "prefix": "value", "min": 2, "max": 5}}]
    named = info["TestV3AutogrowJoin"]["input"]["required"]["parts"]
    assert named == ["COMFY_AUTOGROW_V3", {"template": {"input": {"required": {"part": ["STRING", {"forceInput": True}]}}, "names": ["first", "second", "third"], "min": 1}}]


def test_the_v1_view_of_the_class_matches_object_info(plugin_env, plugin_server):
    import sys

    module = sys.modules[plugin_env.report.pack("v3_dynamic_pack").module]
    info = plugin_server.get_json("/object_info")
    for cls, name in ((module.DynamicMath, "operation"), (module.AutogrowSum, "values")):
        kind, options = cls.INPUT_TYPES()["required"][name]
        assert [kind, options] == info[cls.define_schema().node_id]["input"]["required"][name]


def test_dotted_prompts_run_and_execute_receives_one_dict(backend):
    prompt = {"1": const(4),
              "2": {"class_type": "TestV3DynamicMath", "inputs": {"operation": "add", "operation.a": 3,
                                                                  "operation.b": ["1", 0], "offset": 10}},
              "3": show("2", 0), "4": show("2", 1),
              "5": {"class_type": "TestV3DynamicMath", "inputs": {"operation": "repeat", "operation.text": "xy",
                                                                  "offset": 0}},
              "6": show("5", 0), "7": show("5", 1),
              "8": {"class_type": "TestV3AutogrowSum", "inputs": {"values.value0": 1, "values.value1": ["1", 0],
                                                                  "values.value3": 5}},
              "9": show("8", 0), "10": show("8", 1)}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert json.loads(outcome.outputs["3"]["value"][0]) == {"operation": {"operation": "add", "a": 3, "b": 4},
                                                            "offset": 10}
    assert outcome.outputs["4"]["value"] == [17]
    # an optional sub-input left out is absent from the dict, as in ComfyUI
    assert json.loads(outcome.outputs["6"]["value"][0])["operation"] == {"operation": "repeat", "text": "xy"}
    assert outcome.outputs["7"]["value"] == ["xy"]
    assert json.loads(outcome.outputs["9"]["value"][0]) == {"value0": 1, "value1": 4, "value3": 5}
    assert outcome.outputs["10"]["value"] == [10]


def test_a_socket_inside_an_option_and_named_sockets(backend):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 6, "height": 2, "batch_size": 1, "color": 0}},
              "2": {"class_type": "TestV3DynamicMath", "inputs": {"operation": "width", "operation.image": ["1", 0],
                                                                  "operation.factor": 3, "offset": 1}},
              "3": show("2", 0), "4": show("2", 1),
              "5": {"class_type": "TestV3AutogrowJoin", "inputs": {"parts.third": "c", "parts.first": "a",
                                                                   "separator": "-"}},
              "6": show("5", 0), "7": show("5", 1)}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert json.loads(outcome.outputs["3"]["value"][0])["operation"] == {"operation": "width", "image": [1, 2, 6, 3],
                                                                          "factor": 3}
    assert outcome.outputs["4"]["value"] == [19]
    assert json.loads(outcome.outputs["6"]["value"][0]) == {"first": "a", "third": "c"}  # in the names' order
    assert outcome.outputs["7"]["value"] == ["a-c"]


def test_missing_and_wrong_sub_inputs_fail_validation(backend):
    prompt = {"1": {"class_type": "TestV3DynamicMath", "inputs": {"operation": "add", "operation.b": 1, "offset": 0}},
              "2": show("1"),
              "3": {"class_type": "TestV3DynamicMath", "inputs": {"operation": "divide", "offset": 0}}, "4": show("3"),
              "5": {"class_type": "TestV3DynamicMath", "inputs": {"operation": "repeat", "operation.text": "a",
                                                                  "operation.times": 9, "offset": 0}}, "6": show("5"),
              "7": {"class_type": "TestV3AutogrowSum", "inputs": {"values.value0": 1}}, "8": show("7"),
              "9": {"class_type": "TestV3AutogrowJoin", "inputs": {"parts.first": "a", "separator": "|"}}, "10": show("9")}
    errors = backend.validate(prompt)

    def kinds(node_id):
        return [(e["type"], e["extra_info"].get("input_name")) for e in errors[node_id]["errors"]]

    assert kinds("1") == [("required_input_missing", "operation.a")]
    assert kinds("3") == [("value_not_in_list", "operation")]
    assert kinds("5") == [("value_bigger_than_max", "operation.times")]
    assert kinds("7") == [("required_input_missing", "values.value1")]
    assert "the separator may not be '|'" in errors["9"]["errors"][0]["details"]


def test_editor_widgets_values_follow_the_chosen_option(plugin_env):
    from execution.workflow import convert_workflow

    workflow = {"nodes": [
        {"id": 1, "type": "TestV3DynamicMath", "inputs": [], "widgets_values": ["add", 3, 4, 10]},
        {"id": 2, "type": "TestV3DynamicMath", "inputs": [], "widgets_values": ["repeat", "xy", 3, 0]},
        {"id": 3, "type": "TestV3DynamicMath", "inputs": [], "widgets_values": ["nothing", 5]},
        {"id": 4, "type": "TestIntConstant", "inputs": [], "outputs": [{"type": "INT", "links": [1]}],
         "widgets_values": [7]},
        {"id": 5, "type": "TestV3AutogrowSum", "widgets_values": [],
         "inputs": [{"name": "values.value0", "type": "INT", "link": 1},
                    {"name": "values.value1", "type": "INT", "link": 2}]},
        {"id": 6, "type": "TestIntConstant", "inputs": [], "widgets_values": [2]}],
        "links": [[1, 4, 0, 5, 0, "INT"], [2, 6, 0, 5, 1, "INT"]]}
    prompt = convert_workflow(workflow, plugin_env.registry).prompt
    assert prompt["1"]["inputs"] == {"operation": "add", "operation.a": 3, "operation.b": 4, "offset": 10}
    assert prompt["2"]["inputs"] == {"operation": "repeat", "operation.text": "xy", "operation.times": 3, "offset": 0}
    assert prompt["3"]["inputs"] == {"operation": "nothing", "offset": 5}
    assert prompt["5"]["inputs"] == {"values.value0": ["4", 0], "values.value1": ["6", 0]}
    runner = plugin_env.runner()
    try:
        outcome = runner.run({**{k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()},
                              "7": show("5", 1), "8": show("1", 1), "9": show("2", 1)})
    finally:
        runner.close()
    assert outcome.result.status == "success"
    assert [outcome.ui(n)["value"] for n in ("7", "8", "9")] == [[9], [17], ["xyxyxy"]]


def test_match_type_inputs_accept_only_their_allowed_types(backend, plugin_env):
    spec = plugin_env.registry.get("TestV3PickMatching").object_info(plugin_env.services)["input"]["required"]["a"]
    assert spec == ["INT,STRING", {"template": {"template_id": "pick", "allowed_types": "INT,STRING"}}]
    picked = backend.run({"1": const(5), "2": const(6),
                          "3": {"class_type": "TestV3PickMatching", "inputs": {"first": False, "a": ["1", 0], "b": ["2", 0]}},
                          "4": show("3")})
    assert picked.status == "success", picked.error
    assert picked.outputs["4"]["value"] == [6]
    errors = backend.validate({"1": {"class_type": "EmptyImage", "inputs": {"width": 2, "height": 2, "batch_size": 1,
                                                                            "color": 0}},
                               "3": {"class_type": "TestV3PickMatching", "inputs": {"first": True, "a": ["1", 0],
                                                                                    "b": "text"}}, "4": show("3")})
    assert [(e["type"], e["extra_info"]["input_name"]) for e in errors["3"]["errors"]] == [("return_type_mismatch", "a")]


def test_bad_declarations_fail_clearly():
    import importlib

    from execution.plugins.comfy_v3 import schema_from_v3
    from execution.plugins.loader import compat_on_path

    with compat_on_path():
        io = importlib.import_module("comfy_api.latest").io
    with pytest.raises(ValueError, match="unique keys"):
        io.DynamicCombo.Input("mode", options=[io.DynamicCombo.Option("a", []), io.DynamicCombo.Option("a", [])])
    with pytest.raises(ValueError, match="max"):
        io.Autogrow.TemplatePrefix(io.Int.Input("v"), prefix="v", max=101)

    class Nested(io.ComfyNode):
        @classmethod
        def define_schema(cls):
            inner = io.Autogrow.Input("grow", template=io.Autogrow.TemplatePrefix(io.Int.Input("v"), prefix="v"))
            return io.Schema(node_id="TestNested", inputs=[io.DynamicCombo.Input(
                "mode", options=[io.DynamicCombo.Option("a", [inner])])])

    with pytest.raises(ValueError, match="dynamic input inside a dynamic input"):
        schema_from_v3(Nested)
