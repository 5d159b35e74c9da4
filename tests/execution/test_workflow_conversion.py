"""Editor JSON (0.4 and 1) → API prompt, with bypassed, muted, reroute, primitive and note nodes."""
from __future__ import annotations

import copy

import pytest

from execution.plugins.comfy_v1 import schema_from_v1
from execution.registry import NodeRegistry
from execution.workflow import WorkflowError, convert_workflow, load_any
from nodes import register_builtin_nodes


class SeededV1:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32, "control_after_generate": True}),
                             "strength": ("FLOAT", {"default": 1.0}),
                             "label": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"

    def run(self, image, seed, strength, label):
        return (image,)


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    register_builtin_nodes(reg)
    reg.add(schema_from_v1("SeededV1", SeededV1))
    return reg


def node(id_, type_, inputs=(), outputs=(), widgets=None, mode=0, title=None):
    entry = {"id": id_, "type": type_, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": id_, "mode": mode,
             "inputs": list(inputs), "outputs": list(outputs), "properties": {}}
    if widgets is not None:
        entry["widgets_values"] = widgets
    if title:
        entry["title"] = title
    return entry


WORKFLOW_04 = {
    "last_node_id": 9, "last_link_id": 9, "version": 0.4, "config": {}, "groups": [], "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
    "nodes": [
        node(1, "EmptyImage", outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [1, 7], "slot_index": 0}],
             widgets=[64, 32, 1, 255]),
        node(2, "Reroute", inputs=[{"name": "", "type": "*", "link": 1}],
             outputs=[{"name": "", "type": "IMAGE", "links": [2]}]),
        node(3, "ImageInvert", inputs=[{"name": "image", "type": "IMAGE", "link": 2}],
             outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [3]}], mode=4),
        node(4, "SeededV1", inputs=[{"name": "image", "type": "IMAGE", "link": 3}],
             outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [4, 5]}],
             widgets=[42, "randomize", 0.5, "hello\nworld"], title="My seeded node"),
        node(5, "SaveImage", inputs=[{"name": "images", "type": "IMAGE", "link": 4},
                                     {"name": "filename_prefix", "type": "STRING", "link": 6,
                                      "widget": {"name": "filename_prefix"}}],
             widgets=["ignored-prefix"]),
        node(6, "PrimitiveNode", outputs=[{"name": "STRING", "type": "STRING", "links": [6],
                                           "widget": {"name": "filename_prefix"}}], widgets=["from-primitive", "fixed"]),
        node(7, "PreviewImage", inputs=[{"name": "images", "type": "IMAGE", "link": 5}], mode=2),
        node(8, "Note", widgets=["a note"]),
        node(9, "ImageInvert", inputs=[{"name": "image", "type": "IMAGE", "link": 8}],
             outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [9]}]),
        node(10, "MarkdownNote", widgets=["# hi"]),
    ],
    "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"], [4, 4, 0, 5, 0, "IMAGE"],
              [5, 4, 0, 7, 0, "IMAGE"], [6, 6, 0, 5, 1, "STRING"], [7, 1, 0, 11, 0, "IMAGE"]],
}


def test_conversion_of_a_real_workflow():
    prompt = convert_workflow(WORKFLOW_04, registry()).prompt
    assert set(prompt) == {"1", "4", "5", "9"}  # reroute, bypassed, primitive, muted and notes are gone
    assert prompt["1"]["inputs"] == {"width": 64, "height": 32, "batch_size": 1, "color": 255}
    # the bypassed ImageInvert passes its IMAGE input through; the reroute resolves to node 1
    assert prompt["4"]["inputs"] == {"image": ["1", 0], "seed": 42, "strength": 0.5, "label": "hello\nworld"}
    assert prompt["4"]["_meta"] == {"title": "My seeded node"}
    # a PrimitiveNode's value replaces the converted widget's value
    assert prompt["5"]["inputs"] == {"images": ["4", 0], "filename_prefix": "from-primitive"}
    assert prompt["5"]["class_type"] == "SaveImage"


def test_version_1_links_as_objects_give_the_same_prompt():
    v1 = copy.deepcopy(WORKFLOW_04)
    v1["version"] = 1
    v1["state"] = {"lastNodeId": 10, "lastLinkId": 7}
    v1["links"] = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4],
                    "type": l[5]} for l in WORKFLOW_04["links"]]
    assert convert_workflow(v1, registry()).prompt == convert_workflow(WORKFLOW_04, registry()).prompt


def test_converted_prompt_validates_and_runs(tmp_path):
    from execution.cache import make_cache
    from execution.runner import PromptRunner
    from execution.validate import validate_prompt
    from models.folders import FolderPaths
    from models.services import Services

    services = Services(FolderPaths.create(tmp_path))
    services.paths.ensure_dirs()
    reg = registry()
    prompt, workflow, _ = load_any(WORKFLOW_04, reg)
    validation = validate_prompt(prompt, reg, services)
    assert validation.ok, validation.response()
    assert validation.outputs == ["5"]  # node 9 is no output; the muted preview is gone
    result = PromptRunner(reg, make_cache(), services).run("p", validation.prompt, validation.outputs, lambda e: None,
                                                            {"extra_pnginfo": {"workflow": workflow}})
    assert result.status == "success", result.error
    assert result.outputs["5"]["images"][0]["filename"] == "from-primitive_00001_.png"


def test_bad_workflows_are_refused_clearly():
    with pytest.raises(WorkflowError):
        load_any({"hello": 1}, registry())
    with pytest.raises(WorkflowError):
        convert_workflow({"nodes": [{"id": 1, "type": "sg-1"}], "links": [],  # a subgraph containing itself
                          "definitions": {"subgraphs": [{"id": "sg-1", "nodes": [{"id": 1, "type": "sg-1"}]}]}},
                         registry())


@pytest.mark.parametrize(("damaged", "named"), [
    ({"nodes": [{"id": 1, "type": "EmptyImage"}], "links": 5}, "'links' must be a list"),
    ({"nodes": [5], "links": []}, "node #0 is not an object"),
    ({"nodes": [{"id": 1, "type": ["x"]}], "links": []}, "'type' must be a string"),
    ({"nodes": [{"id": 1, "type": "EmptyImage", "mode": [0]}], "links": []}, "'mode' must be a number"),
    ({"nodes": [{"id": 1, "type": "EmptyImage", "inputs": {}}], "links": []}, "'inputs' must be a list of objects"),
    ({"nodes": [{"id": 1, "type": "EmptyImage", "inputs": [{"name": "a", "link": [1]}]}], "links": []},
     "'link' that is not a link id"),
    ({"nodes": [{"id": 1, "type": "EmptyImage", "widgets_values": 7}], "links": []}, "'widgets_values' must be"),
    ({"nodes": [], "links": [[1, 2, "x", 3, 0, "IMAGE"]]}, "link #0 must be"),
    ({"nodes": [], "links": [{"id": 1, "origin_slot": None}]}, "needs numeric"),
    ({"nodes": [], "links": [], "definitions": {"subgraphs": [{"id": "s", "inputs": 3}]}}, "'inputs' must be a list"),
])
def test_a_damaged_workflow_names_its_first_malformed_entry(damaged, named):
    with pytest.raises(WorkflowError, match="malformed workflow") as raised:
        convert_workflow(damaged, registry())
    assert named in str(raised.value)


def test_damaged_templates_fail_only_with_workflow_errors():
    """Seeded damage to the official templates (entries deleted or replaced by junk): conversion either
    succeeds or raises WorkflowError, never an exception from deep inside."""
    import json
    import random

    from tests.fixtures.templates import damage, template_files

    rng = random.Random(5)
    texts = [path.read_text() for path in template_files()]
    reg = registry()
    refused = 0
    for _ in range(600):
        workflow = json.loads(rng.choice(texts))
        for _ in range(rng.randint(1, 6)):
            damage(workflow, rng)
        try:
            convert_workflow(workflow, reg)
        except WorkflowError:
            refused += 1
    assert refused > 50  # the damage does reach the converter
