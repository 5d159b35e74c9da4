"""Subgraph workflows: flattening (nested instances, links across the boundary, promoted widgets,
mute/bypass, the frontend's ``<instance>:<inner>`` ids), the pinned official templates, and a
hand-made nested workflow that runs to the same pixels as its flattened twin."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from execution.cache import make_cache
from execution.registry import NodeRegistry
from execution.runner import PromptRunner
from execution.validate import validate_prompt
from execution.workflow import convert_workflow, load_any
from nodes import register_builtin_nodes

ROOT = Path(__file__).resolve().parents[2]
NESTED = json.loads((ROOT / "workflows" / "subgraph_nested.json").read_text())
OUTER, INNER = (d["id"] for d in NESTED["definitions"]["subgraphs"])


def flat_twin() -> dict:
    """The same graph written by hand without subgraphs."""
    def n(id_, type_, inputs, outputs, widgets):
        return {"id": id_, "type": type_, "mode": 0, "inputs": inputs, "outputs": outputs, "widgets_values": widgets}

    return {"version": 0.4, "last_node_id": 20, "last_link_id": 5, "nodes": [
        n(1, "EmptyImage", [], [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], [16, 8, 1, 16711680]),
        n(2, "EmptyImage", [], [{"name": "IMAGE", "type": "IMAGE", "links": [2]}], [16, 8, 1, 255]),
        n(5, "ImageInvert", [{"name": "image", "type": "IMAGE", "link": 1}],
          [{"name": "IMAGE", "type": "IMAGE", "links": [3]}], []),
        n(7, "ImageBlend", [{"name": "image1", "type": "IMAGE", "link": 3}, {"name": "image2", "type": "IMAGE", "link": 2}],
          [{"name": "IMAGE", "type": "IMAGE", "links": [4]}], [0.25, "normal"]),
        n(20, "SaveImage", [{"name": "images", "type": "IMAGE", "link": 4}], [], ["flat"])],
        "links": [[1, 1, 0, 5, 0, "IMAGE"], [2, 2, 0, 7, 1, "IMAGE"], [3, 5, 0, 7, 0, "IMAGE"], [4, 7, 0, 20, 0, "IMAGE"]]}


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    register_builtin_nodes(reg)
    return reg


def plain(prompt: dict) -> dict:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}


def test_nested_instances_flatten_with_frontend_ids_and_promoted_values(registry):
    prompt = plain(convert_workflow(NESTED, registry).prompt)
    assert prompt == {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 16711680}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 255}},
        "10:5": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        # the inner default 0.9 is replaced by the value promoted on the outer instance (proxyWidgets "-1")
        "10:6:7": {"class_type": "ImageBlend", "inputs": {"blend_factor": 0.25, "blend_mode": "normal",
                                                          "image1": ["10:5", 0], "image2": ["2", 0]}},
        "20": {"class_type": "SaveImage", "inputs": {"filename_prefix": "subgraph", "images": ["10:6:7", 0]}},
    }  # the bypassed inner ImageInvert passes through; the muted PreviewImage is gone


def test_inner_widget_value_is_kept_when_nothing_is_promoted(registry):
    workflow = copy.deepcopy(NESTED)
    instance = next(n for n in workflow["nodes"] if n["type"] == OUTER)
    instance["widgets_values"], instance["properties"] = [], {}
    assert convert_workflow(workflow, registry).prompt["10:6:7"]["inputs"]["blend_factor"] == 0.9


def test_positional_widget_values_of_older_files(registry):
    workflow = copy.deepcopy(NESTED)
    instance = next(n for n in workflow["nodes"] if n["type"] == OUTER)
    instance["properties"] = {}  # no proxyWidgets: values follow the definition's widget inputs
    instance["inputs"] = instance["inputs"][:2]  # and the instance lists fewer inputs than its definition
    assert convert_workflow(workflow, registry).prompt["10:6:7"]["inputs"]["blend_factor"] == 0.25


@pytest.mark.parametrize("mode, expected_source", [(2, None), (4, ["1", 0])])
def test_mute_and_bypass_on_the_instance(registry, mode, expected_source):
    workflow = copy.deepcopy(NESTED)
    next(n for n in workflow["nodes"] if n["type"] == OUTER)["mode"] = mode
    prompt = convert_workflow(workflow, registry).prompt
    assert not any(":" in node_id for node_id in prompt)  # no inner node of a muted/bypassed instance
    assert prompt["20"]["inputs"].get("images") == expected_source


def test_version_1_top_level_with_object_links(registry):
    workflow = copy.deepcopy(NESTED)
    workflow["version"] = 1
    workflow["links"] = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4],
                          "type": l[5]} for l in workflow["links"]]
    assert plain(convert_workflow(workflow, registry).prompt) == plain(convert_workflow(NESTED, registry).prompt)


def run_workflow(registry, workflow: dict, tmp_path: Path) -> tuple[dict, bytes]:
    from models.folders import FolderPaths
    from models.services import Services

    services = Services(FolderPaths.create(tmp_path), force_cpu=True)
    services.paths.ensure_dirs()
    prompt, _, _ = load_any(workflow, registry)
    checked = validate_prompt(prompt, registry, services)
    assert checked.ok, checked.response()
    events: list = []
    result = PromptRunner(registry, make_cache(), services).run("p", checked.prompt, checked.outputs, events.append)
    assert result.status == "success", result.error
    image = result.outputs["20"]["images"][0]
    return {e.data()["node"] for e in events if e.type == "executing" and e.data()["node"]}, \
        (services.paths.output_dir / image["filename"]).read_bytes()


def test_nested_workflow_runs_to_the_same_pixels_as_its_flat_twin(registry, tmp_path):
    import numpy as np
    from io import BytesIO
    from PIL import Image

    executed, nested_png = run_workflow(registry, NESTED, tmp_path / "nested")
    _, flat_png = run_workflow(registry, flat_twin(), tmp_path / "flat")
    assert {"10:5", "10:6:7", "20"} <= executed  # progress points at the inner nodes by their frontend ids
    nested = np.asarray(Image.open(BytesIO(nested_png)))
    flat = np.asarray(Image.open(BytesIO(flat_png)))
    assert nested.shape == (8, 16, 3) and np.array_equal(nested, flat)
    assert tuple(nested[0, 0]) == (0, 191, 255)  # 0.75*invert(red) + 0.25*blue


# -- the pinned official templates (comfyui-workflow-templates-json) --------------------------------
def template_files() -> list[Path]:
    import comfyui_workflow_templates_json as package  # pinned in requirements-dev.txt: a hard requirement

    return sorted((Path(package.__file__).parent / "templates").glob("*.json"))


def test_every_subgraph_template_converts_and_validates_with_structured_errors(registry, tmp_path):
    from models.folders import FolderPaths
    from models.services import Services

    services = Services(FolderPaths.create(tmp_path), force_cpu=True)
    with_subgraphs = nested = 0
    for path in template_files():
        workflow = json.loads(path.read_text())
        if not isinstance(workflow, dict) or not (workflow.get("definitions") or {}).get("subgraphs"):
            continue
        with_subgraphs += 1
        definitions = {d["id"] for d in workflow["definitions"]["subgraphs"]}
        prompt = convert_workflow(workflow, registry).prompt
        assert prompt, path.name
        nested += any(node_id.count(":") >= 2 for node_id in prompt)
        for node_id, node in prompt.items():
            assert node["class_type"] not in definitions, (path.name, node_id)
            for value in node["inputs"].values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    assert value[0] in prompt, (path.name, node_id, value)  # links cross boundaries correctly
        result = validate_prompt(prompt, registry, services)  # missing node types / models: structured errors
        assert result.ok or result.error["type"] in ("invalid_prompt", "prompt_outputs_failed_validation",
                                                     "prompt_no_outputs"), (path.name, result.error)
    assert with_subgraphs == 214 and nested >= 10


def test_main_run_accepts_a_subgraph_workflow(tmp_path, capsys):
    import main as plexus_main

    code = plexus_main.main(["--base-directory", str(tmp_path), "run", str(ROOT / "workflows" / "subgraph_nested.json"),
                             "--set", "10:6:7.blend_factor=1.0", "--quiet"])
    assert code == 0
    from PIL import Image

    with Image.open(tmp_path / "output" / "subgraph_00001_.png") as image:  # the --set reached the inner node
        assert image.getpixel((0, 0)) == (0, 0, 255)


def test_editor_expansion_keeps_every_node_and_value(registry):
    from execution.subgraph_expand import expand_for_editor

    expanded = expand_for_editor(NESTED, registry)
    assert "definitions" not in expanded and all(isinstance(n["id"], int) for n in expanded["nodes"])
    assert [g["title"] for g in expanded["groups"]] == ["Invert then blend"]
    assert expanded["extra"]["plexus_expanded_subgraphs"] == ["Invert then blend"]
    blend = next(n for n in expanded["nodes"] if n["type"] == "ImageBlend")
    assert blend["widgets_values"] == [0.25, "normal"]  # the promoted value, written positionally
    assert {n["type"] for n in expanded["nodes"]} == {"EmptyImage", "ImageInvert", "ImageBlend", "PreviewImage",
                                                      "SaveImage"}  # the muted and bypassed inner nodes too
    link_ids = {l[0] for l in expanded["links"]}
    for node in expanded["nodes"]:  # litegraph's own bookkeeping agrees with the link table
        for index, slot in enumerate(node["inputs"]):
            assert slot["link"] is None or [l for l in expanded["links"] if l[0] == slot["link"]][0][3:5] == [node["id"], index]
        assert all(link in link_ids for slot in node["outputs"] for link in slot["links"])
    original, again = convert_workflow(NESTED, registry).prompt, convert_workflow(expanded, registry).prompt
    assert sorted(n["class_type"] for n in again.values()) == sorted(n["class_type"] for n in original.values())
    blend_id = next(k for k, v in again.items() if v["class_type"] == "ImageBlend")
    assert again[blend_id]["inputs"]["blend_factor"] == 0.25


def test_editor_expansion_of_every_template(registry):
    from execution.subgraph_expand import expand_for_editor

    for path in template_files():
        workflow = json.loads(path.read_text())
        if isinstance(workflow, dict) and (workflow.get("definitions") or {}).get("subgraphs"):
            expanded = expand_for_editor(workflow, registry)
            known = {str(n["id"]) for n in expanded["nodes"]}
            assert all(str(l[1]) in known and str(l[3]) in known for l in expanded["links"]), path.name


def test_validation_errors_point_at_inner_nodes_by_their_frontend_ids(registry, tmp_path):
    from models.folders import FolderPaths
    from models.services import Services

    workflow = copy.deepcopy(NESTED)
    inner = next(d for d in workflow["definitions"]["subgraphs"] if d["id"] == INNER)
    next(n for n in inner["nodes"] if n["type"] == "ImageBlend")["widgets_values"] = [0.9, "no-such-mode"]
    result = validate_prompt(convert_workflow(workflow, registry).prompt, registry,
                             Services(FolderPaths.create(tmp_path), force_cpu=True))
    assert list(result.node_errors) == ["10:6:7"]
    assert result.node_errors["10:6:7"]["errors"][0]["type"] == "value_not_in_list"
    assert result.node_errors["10:6:7"]["dependent_outputs"] == ["20"]
