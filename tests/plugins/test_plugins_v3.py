"""ComfyUI V3 nodes (comfy_api.latest / v0_0_2) through the V3 adapter: the V3 fixture packs
(tests/plugins/packs/v3_flow_pack, v3_output_pack) load unmodified and behave like their V1 twins,
in-process and through the real server; /object_info shows them in ComfyUI's V3 shape."""
from __future__ import annotations

import pytest

from tests.fixtures.plugins import const, show


def test_v3_packs_load_with_every_node(plugin_env):
    flow, output = plugin_env.report.pack("v3_flow_pack"), plugin_env.report.pack("v3_output_pack")
    assert flow.loaded and output.loaded and flow.kind == output.kind == "v3"
    assert set(flow.nodes) == {"TestV3LazySwitch", "TestV3Range", "TestV3ListSum", "TestV3AsyncSleep",
                               "TestV3AddChain", "TestV3ExpandWithoutFlag"}
    assert len(output.nodes) == 7 and not flow.node_errors and not output.node_errors


def test_object_info_has_comfyui_v3_shape(plugin_server):
    info = plugin_server.get_json("/object_info")
    preview = info["TestV3Preview"]
    assert preview["input"] == {"required": {"images": ["IMAGE", {"tooltip": "what to show"}]},
                                "optional": {"mask": ["MASK", {}]},
                                "hidden": {"prompt": ["PROMPT"], "extra_pnginfo": ["EXTRA_PNGINFO"]}}
    assert preview["display_name"] is None and preview["output_tooltips"] == ["the same images"]
    assert (preview["deprecated"], preview["experimental"], preview["api_node"]) == (False, False, False)
    assert preview["python_module"] == "custom_nodes.v3_output_pack" and preview["output_node"] is True
    counter = info["TestV3Counter"]["input"]["required"]
    assert counter["mode"] == ["COMBO", {"multiselect": False, "options": ["same", "always"]}]
    assert counter["value"] == ["INT", {"default": 1}]
    assert info["TestV3ShowText"]["display_name"] == "Show Text (V3 test)"
    assert info["TestV3ShowText"]["input"]["hidden"] == {"unique_id": ["UNIQUE_ID"], "dynprompt": ["DYNPROMPT"],
                                                        "prompt": ["PROMPT"],
                                                        "extra_pnginfo": ["EXTRA_PNGINFO"]}  # output node: automatic
    assert info["TestV3ListSum"]["output_name"] == ["sum", "count"]
    assert info["TestV3Range"]["output_is_list"] == [True]


def test_v3_classes_expose_the_v1_view(plugin_env):
    import sys

    module = sys.modules[plugin_env.report.pack("v3_output_pack").module]
    assert module.Counter.RETURN_TYPES == ("INT",) and module.Counter.FUNCTION == "EXECUTE_NORMALIZED"
    assert module.Counter.INPUT_TYPES()["required"]["mode"][0] == "COMBO"
    flow = sys.modules[plugin_env.report.pack("v3_flow_pack").module]
    assert flow.AsyncSleep.FUNCTION == "EXECUTE_NORMALIZED_ASYNC"


@pytest.mark.parametrize("switch_class", ["TestLazySwitch", "TestV3LazySwitch"])
def test_lazy_switch_twins(backend, switch_class):
    prompt = {"1": const(7), "2": {"class_type": "TestExplode", "inputs": {}},
              "3": {"class_type": switch_class, "inputs": {"switch": True, "on_true": ["1", 0], "on_false": ["2", 0]}},
              "4": show("3")}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["4"]["value"] == [7]
    prompt["3"]["inputs"]["switch"] = False
    failed = backend.run(prompt)
    assert failed.status == "error" and failed.error["node_id"] == "2"


@pytest.mark.parametrize("prefix", ["Test", "TestV3"])
def test_list_twins(backend, prefix):
    prompt = {"1": {"class_type": f"{prefix}Range", "inputs": {"count": 3}},
              "2": {"class_type": "TestScale", "inputs": {"value": ["1", 0], "factor": 10}},
              "3": {"class_type": f"{prefix}ListSum", "inputs": {"values": ["2", 0], "offset": 1}},
              "4": show("3", 0), "5": show("3", 1)}
    outcome = backend.run(prompt)
    assert outcome.outputs["4"]["value"] == [31] and outcome.outputs["5"]["value"] == [3]


def test_async_v3_nodes_overlap_in_time(backend):
    prompt = {"1": {"class_type": "TestV3AsyncSleep", "inputs": {"seconds": 0.4, "tag": "a"}},
              "2": {"class_type": "TestV3AsyncSleep", "inputs": {"seconds": 0.4, "tag": "b"}}}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    (start_a, end_a), (start_b, end_b) = outcome.outputs["1"]["span"], outcome.outputs["2"]["span"]
    assert max(start_a, start_b) < min(end_a, end_b)


def test_expansion_equals_the_hand_built_chain(backend):
    expanded = backend.run({"1": const(100), "2": {"class_type": "TestV3AddChain",
                                                   "inputs": {"start": ["1", 0], "count": 4, "step": 5}},
                            "3": show("2")})
    chain = {"1": const(100), "3": show("13")}
    for index in range(4):
        chain[f"1{index}"] = {"class_type": "TestAddInt", "inputs": {"a": [f"1{index - 1}" if index else "1", 0], "b": 5}}
    flat = backend.run(chain)
    assert expanded.status == flat.status == "success", expanded.error
    assert expanded.outputs["3"]["value"] == flat.outputs["3"]["value"] == [120]
    started = [d["node"] for d in expanded.of_type("executing") if d["node"]]
    assert any(n.startswith("2.0.0.") for n in started)


def test_expansion_without_enable_expand_is_an_error(backend):
    outcome = backend.run({"1": {"class_type": "TestV3ExpandWithoutFlag", "inputs": {}}, "2": show("1")})
    assert outcome.status == "error" and "enable_expand" in outcome.error["exception_message"]


def test_validation_twins_report_the_same_errors(backend):
    for twin in ("TestWideRange", "TestV3WideRange"):
        ok = {"1": {"class_type": twin, "inputs": {"amount": 50, "label": "n"}}, "2": show("1")}
        assert backend.run(ok).outputs["2"]["value"] == ["n50"]  # above the declared max of 10
    errors = [backend.validate({"1": {"class_type": twin, "inputs": {"amount": 500, "label": "n"}}, "2": show("1")})
              ["1"]["errors"] for twin in ("TestWideRange", "TestV3WideRange")]
    assert errors[0] == errors[1]
    assert {e["details"] for e in errors[1]} == {"amount - amount must be at most 100", "label - amount must be at most 100"}


def test_ui_outputs_hidden_values_and_progress(backend):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 4, "batch_size": 1, "color": 255}},
              "2": {"class_type": "TestV3Preview", "inputs": {"images": ["1", 0]}},
              "3": {"class_type": "TestV3ShowText", "inputs": {"value": ["2", 0]}},
              "9": {"class_type": "TestV3ShowText", "inputs": {"value": "plain"}}}
    outcome = backend.run(prompt)
    assert outcome.status == "success", outcome.error
    images = outcome.outputs["2"]["images"]
    assert outcome.outputs["2"]["animated"] == [False] and images[0]["type"] == "temp"
    assert images[0]["filename"].startswith("ComfyUI_temp_") and images[0]["filename"].endswith("_00001_.png")
    assert outcome.outputs["9"]["text"] == ["9 (TestV3ShowText): plain"]  # cls.hidden.unique_id and .dynprompt
    progress = [(d["value"], d["max"]) for d in outcome.of_type("progress") if d["node"] == "2"]
    assert progress[0] == (1, 2) and progress[-1] == (2, 2)  # ComfyAPISync().execution.set_progress


def test_fingerprint_inputs_decides_reruns(backend):
    def counter(mode):
        return {"1": {"class_type": "TestV3Counter", "inputs": {"value": 4, "mode": mode}}, "2": show("1")}

    first = backend.run(counter("same"))
    again = backend.run(counter("same"))
    assert "1" in again.cached and again.outputs["2"]["value"] == first.outputs["2"]["value"]
    rerun_a, rerun_b = backend.run(counter("always")), backend.run(counter("always"))
    assert "1" not in rerun_b.cached and rerun_b.outputs["2"]["value"] != rerun_a.outputs["2"]["value"]


def test_blocking_and_locked_class_state(backend):
    silent = backend.run({"1": const(3), "2": {"class_type": "TestV3Gate", "inputs": {"value": ["1", 0], "open": False}},
                          "3": show("2")})
    assert silent.status == "success" and "3" not in silent.outputs  # a bare blocker stops the branch quietly
    loud = backend.run({"1": const(3), "2": {"class_type": "TestV3Gate",
                                             "inputs": {"value": ["1", 0], "open": False, "message": "closed"}},
                        "3": show("2")})
    assert loud.status == "error" and "closed" in loud.error["exception_message"]
    stateful = backend.run({"1": {"class_type": "TestV3StatefulCls", "inputs": {}}, "2": show("1")})
    assert stateful.status == "error" and "AttributeError" in stateful.error["exception_type"]


def test_comfy_api_shims_import_and_unsupported_names_fail_clearly(plugin_env):
    import importlib

    import torch

    from execution.plugins.loader import compat_on_path

    with compat_on_path():
        shims = {name: importlib.import_module(f"comfy_api.{name}")
                 for name in ("input", "input_impl", "util", "torch_helpers", "latest", "v0_0_2")}
    assert shims["input"].ImageInput is torch.Tensor and shims["util"].VideoContainer.MP4 == "mp4"
    assert shims["v0_0_2"].io is shims["latest"].io and shims["latest"].IO is shims["latest"].io
    assert shims["latest"].io.SomeFutureType.Input("x").get_io_type() == "SOMEFUTURETYPE"  # newer names import
    video = shims["input_impl"].VideoFromComponents(shims["util"].VideoComponents(torch.zeros(2, 4, 6, 3), 12))
    assert isinstance(video, shims["input"].VideoInput) and video.get_dimensions() == (6, 4)
    assert isinstance(shims["input_impl"].VideoFromFile("clip.mp4"), shims["input"].VideoInput)  # read lazily
    with pytest.raises(NotImplementedError, match="torch.compile"):
        shims["torch_helpers"].set_torch_compile_wrapper(object())


def test_schema_is_read_again_for_object_info_and_validation(backend, plugin_env):
    import sys
    from pathlib import Path

    name = f"pick-{id(backend)}.txt"
    (plugin_env.services.paths.input_dir / name).write_text("x")
    # folder_paths answers for the registry loaded last in this process (tests load several)
    (Path(sys.modules["folder_paths"].get_input_directory()) / name).write_text("x")
    if hasattr(backend, "handle"):
        (backend.handle.base_dir / "input" / name).write_text("x")
    outcome = backend.run({"1": {"class_type": "TestV3PickFile", "inputs": {"name": name}}, "2": show("1")})
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["2"]["value"] == [name]


def test_names_of_newer_comfyui_releases_import_and_publish(tmp_path):
    from execution.plugins.loader import load_custom_nodes
    from execution.registry import NodeRegistry
    from tests.fixtures.plugins import make_services

    pack = tmp_path / "packs" / "newer_api_pack.py"
    pack.parent.mkdir()
    pack.write_text(
        "from comfy_api.latest import ComfyExtension, io\n"
        "class Saver(io.ComfyNode):\n"
        "    @classmethod\n"
        "    def define_schema(cls):\n"
        "        return io.Schema(node_id='NewerSaver', search_aliases=['save'], essentials_category='x',\n"
        "            inputs=[io.DynamicCombo.Input('format', options=[io.DynamicCombo.Option('png', [])]),\n"
        "                    io.Int.Input('n', default=1, advanced=True), io.Autogrow.Input('more', template=io.Autogrow.TemplatePrefix(io.Image.Input('i'), 'i'))],\n"
        "            outputs=[io.LatentUpscaleModel.Output()])\n"
        "    @classmethod\n"
        "    def execute(cls, **kwargs):\n"
        "        return io.NodeOutput(None)\n"
        "class Ext(ComfyExtension):\n"
        "    async def get_node_list(self):\n"
        "        return [Saver]\n"
        "def comfy_entrypoint():\n"
        "    return Ext()\n")
    services = make_services(tmp_path / "base")
    registry = NodeRegistry()
    report = load_custom_nodes(registry, [pack.parent], services=services)
    assert report.pack("newer_api_pack").nodes == ["NewerSaver"], report.to_json()
    import json

    info = json.loads(json.dumps(registry.get("NewerSaver").object_info(services)))  # JSON all the way
    assert info["input"]["required"]["format"][0] == "COMFY_DYNAMICCOMBO_V3"  # real since then (test_plugins_v3_dynamic)
    assert info["input"]["required"]["more"][0] == "COMFY_AUTOGROW_V3"
    assert info["input"]["required"]["n"] == ["INT", {"default": 1, "advanced": True}]
    assert info["output"] == ["LATENT_UPSCALE_MODEL"]


def test_a_v3_class_without_define_schema_is_refused_by_name():
    from comfy_api.latest import io

    class Forgetful(io.ComfyNode):
        pass

    with pytest.raises(TypeError, match="V3 node Forgetful does not define define_schema"):
        Forgetful.GET_SCHEMA()
