"""The official workflow templates (``comfyui-workflow-templates-json==0.1.123``, 644 workflows) as
a conformance corpus: every one converts and validates without a crash, with missing nodes and
models reported as structured errors; the flat SD3.5 templates (text-to-image, canny and blur
ControlNet) run end to end on the demo models, their model and image names substituted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.templates import TEMPLATES, template_files
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
RUNNABLE = ("sd3.5_simple_example", "sd3.5_large_canny_controlnet_example", "sd3.5_large_blur")
# Templates using only node types Plexus has: 12 before the first template work (main at 04d5e3d),
# 28 after it (c85cb7af), 30 with the template image nodes (ImageStitch, ResizeImageMaskNode,
# BatchImagesNode, SaveImageAdvanced...), 39 with ComfyMathExpression, ResolutionSelector, CFGNorm,
# ComfyNumberConvert (and SDTurboScheduler), 43 with InpaintModelConditioning, DifferentialDiffusion and
# InstructPixToPixConditioning (the FLUX Fill and Canny templates). Nodes that exist only to fail clearly
# do not count as support.
SUPPORTED_AT_LEAST = 43
UNAVAILABLE = {"LotusConditioning"}  # ComfyUI's contract, one documented error when run


def node_types(workflow: dict) -> set[str]:
    """Executable node types of a workflow, inner nodes of subgraph definitions included."""
    definitions = (workflow.get("definitions") or {}).get("subgraphs") or []
    subgraph_ids = {d.get("id") for d in definitions}
    nodes = list(workflow.get("nodes") or []) + [n for d in definitions for n in d.get("nodes") or []]
    return {n["type"] for n in nodes if n.get("type") not in subgraph_ids and n.get("type") not in FRONTEND_ONLY}


@pytest.fixture(scope="module")
def corpus_env(tmp_path_factory, demo_models_dir):
    from tests.fixtures.zoo import SD3Env

    env = SD3Env(tmp_path_factory.mktemp("templates"), demo_models_dir, preview_method="none")
    yield env
    env.close()


def _assert_structured(error: dict) -> None:
    assert isinstance(error.get("type"), str) and error["type"]
    assert isinstance(error.get("message"), str) and error["message"]


def test_every_template_converts_and_validates_with_structured_errors(corpus_env):
    from execution.validate import validate_prompt
    from execution.workflow import WorkflowError, convert_workflow

    registry = corpus_env.registry
    files = template_files()
    assert len(files) == 644
    outcomes: dict[str, int] = {"valid": 0, "missing node": 0, "invalid input": 0, "subgraph": 0}
    fully_supported = 0
    for path in files:
        workflow = json.loads(path.read_text())
        missing = {t for t in node_types(workflow) if t not in registry}
        fully_supported += not missing and not (node_types(workflow) & UNAVAILABLE)
        try:
            prompt = convert_workflow(workflow, registry).prompt
        except WorkflowError as error:  # subgraphs, until they are flattened
            assert "subgraph" in str(error), path.name
            outcomes["subgraph"] += 1
            continue
        result = validate_prompt(prompt, registry, corpus_env.services)
        body = json.loads(json.dumps(result.response(), default=str))  # serialisable, as the server sends it
        if result.ok and not body["node_errors"]:
            outcomes["valid"] += 1
            continue
        if body["error"]:
            _assert_structured(body["error"])
        for entry in body["node_errors"].values():
            for error in entry["errors"]:
                _assert_structured(error)
        top_missing = body["error"] and "does not exist" in body["error"]["message"]
        if top_missing:  # ComfyUI reports the first missing node type; it is one of ours
            assert body["error"]["extra_info"]["class_type"] in missing, path.name
        outcomes["missing node" if top_missing else "invalid input"] += 1
    print(f"\ntemplates fully supported by node type: {fully_supported} of {len(files)}; outcomes {outcomes}")
    assert fully_supported >= SUPPORTED_AT_LEAST
    assert sum(outcomes.values()) == len(files)


def test_inputs_the_templates_link_as_sockets_are_sockets_here(corpus_env):
    """A linked template input without a ``widget`` entry is a pure socket in ComfyUI; were it a widget
    here, it would own a ``widgets_values`` slot and shift every value after it (SaveText's
    ``filename_prefix`` received its ``format``, until ``In`` of a STRING became ``forceInput``)."""
    from execution.schema import iter_widget_inputs

    registry = corpus_env.registry
    shifted = set()
    for path in template_files():
        workflow = json.loads(path.read_text())
        definitions = (workflow.get("definitions") or {}).get("subgraphs") or []
        for node in list(workflow.get("nodes") or []) + [n for d in definitions for n in d.get("nodes") or []]:
            if node.get("type") not in registry:
                continue
            widgets = {spec.name for spec in iter_widget_inputs(registry.get(node["type"]))}
            shifted |= {(node["type"], entry.get("name"), path.name) for entry in node.get("inputs") or []
                        if entry.get("link") is not None and "widget" not in entry and entry.get("name") in widgets}
    assert not shifted, sorted(shifted)[:10]


def test_save_text_widgets_follow_comfyui(corpus_env):
    from execution.workflow import convert_workflow

    workflow = json.loads((TEMPLATES / "api_openai_chat.json").read_text())
    [save] = [n for n in convert_workflow(workflow, corpus_env.registry).prompt.values() if n["class_type"] == "SaveText"]
    assert save["inputs"]["filename_prefix"] == "Text/GPT" and save["inputs"]["format"] == "txt"


def test_missing_models_are_named(corpus_env):
    from execution.validate import validate_prompt
    from execution.workflow import convert_workflow

    workflow = json.loads((TEMPLATES / "sd3.5_simple_example.json").read_text())
    result = validate_prompt(convert_workflow(workflow, corpus_env.registry).prompt, corpus_env.registry,
                             corpus_env.services)
    errors = [e for entry in result.response()["node_errors"].values() for e in entry["errors"]]
    assert any(e["type"] == "value_not_in_list" and "sd3.5_large_fp8_scaled.safetensors" in e["details"]
               for e in errors), errors


def _substitute_demo_names(prompt: dict, input_image: str) -> dict:
    from models.demo.control import DEMO_CONTROLNET
    from models.demo.sd3 import CHECKPOINT

    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = CHECKPOINT
        elif kind == "ControlNetLoader":
            inputs["control_net_name"] = DEMO_CONTROLNET
        elif kind == "LoadImage":
            inputs["image"] = input_image
        elif kind in ("EmptySD3LatentImage", "ImageScale"):
            inputs.update(width=64, height=64)
        elif kind == "KSampler":
            inputs["steps"] = 2
    return prompt


@pytest.mark.parametrize("name", RUNNABLE)
def test_flat_sd35_templates_run_on_the_demo_models(corpus_env, name):
    import numpy as np
    from PIL import Image

    from execution.workflow import convert_workflow

    input_dir = corpus_env.services.paths.input_dir
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[16:48, 16:48] = 255  # a square: clear edges for Canny
    Image.fromarray(image).save(Path(input_dir) / "template-input.png")
    workflow = json.loads((TEMPLATES / f"{name}.json").read_text())
    prompt = _substitute_demo_names(convert_workflow(workflow, corpus_env.registry).prompt, "template-input.png")
    result = corpus_env.run(prompt)
    assert result.status == "success", result.error
    saved = [e for e in corpus_env.events if type(e).__name__ == "Executed" and e.output.get("images")]
    assert saved and all(item["filename"].endswith(".png") for e in saved for item in e.output["images"])


def test_image_stitch_template_runs_end_to_end(corpus_env):
    """``utility_image_stitch``: four images -> ImageStitch x3 (a 2x2 grid) -> ResizeImageMaskNode -> SaveImage."""
    import numpy as np
    from PIL import Image

    from execution.workflow import convert_workflow

    input_dir = Path(corpus_env.services.paths.input_dir)
    for index, (height, width) in enumerate([(8, 8), (8, 16), (16, 8), (4, 4)], start=1):
        Image.fromarray(np.full((height, width, 3), 60 * index, dtype=np.uint8)).save(input_dir / f"angle_{index}.png")
    workflow = json.loads((TEMPLATES / "utility_image_stitch.json").read_text())
    prompt = convert_workflow(workflow, corpus_env.registry).prompt
    (resize,) = [n for n in prompt.values() if n["class_type"] == "ResizeImageMaskNode"]
    assert resize["inputs"]["resize_type"] == "scale dimensions" and resize["inputs"]["resize_type.width"] == 2048
    resize["inputs"].update({"resize_type.width": 32, "resize_type.height": 32})
    result = corpus_env.run(prompt)
    assert result.status == "success", result.error
    (saved,) = [item for e in corpus_env.events if type(e).__name__ == "Executed" for item in e.output.get("images", [])]
    with Image.open(Path(corpus_env.services.paths.output_dir) / saved["subfolder"] / saved["filename"]) as png:
        assert png.size == (32, 32)
        assert png.getpixel((2, 2)) == (60, 60, 60) and png.getpixel((29, 29)) == (240, 240, 240)


def test_basic_datatype_conversion_runs_as_it_is(corpus_env):
    """ComfyMathExpression and ComfyNumberConvert in the official utility template: every preview shows."""
    from execution.workflow import convert_workflow

    workflow = json.loads((TEMPLATES / "basic_datatype_conversion.json").read_text())
    prompt = convert_workflow(workflow, corpus_env.registry).prompt
    result = corpus_env.run(prompt)
    assert result.status == "success", result.error
    shown = {e.node: e.output["text"] for e in corpus_env.events if type(e).__name__ == "Executed"}
    previews = [node_id for node_id, node in prompt.items() if node["class_type"] == "PreviewAny"]
    assert previews and all(node_id in shown for node_id in previews)
    assert ["True"] in shown.values() and ["1.5"] in shown.values()


FLUX_TOOLS = ("flux_fill_inpaint_example", "flux_fill_outpaint_example", "flux_canny_model_example",
              "image_flux.1_fill_dev_OneReward")
FLUX_TOOLS_RUNNABLE = FLUX_TOOLS[:3]  # OneReward also needs its object-removal LoRA for FLUX (no demo file)
# flux_depth_lora_example is not here: its depth map comes from LotusConditioning (an SD 2.x U-Net).


def _substitute_flux_tools_names(prompt: dict, input_image: str) -> dict:
    from models.demo.flux import VAE
    from models.demo.flux_tools import CANNY_MODEL, FILL_MODEL
    from models.demo.sd3 import TEXT_ENCODERS

    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "UNETLoader":
            inputs["unet_name"] = CANNY_MODEL if "canny" in inputs["unet_name"] else FILL_MODEL
        elif kind == "DualCLIPLoader":
            inputs.update(clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["t5xxl"])
        elif kind == "VAELoader":
            inputs["vae_name"] = VAE
        elif kind == "LoadImage":
            inputs["image"] = input_image
        elif kind == "ImagePadForOutpaint":
            inputs.update(left=16, top=0, right=16, bottom=16, feathering=8)
        elif kind == "KSampler":
            inputs["steps"] = 2
    return prompt


@pytest.mark.parametrize("name", FLUX_TOOLS)
def test_flux_tools_templates_validate_with_only_missing_weights(corpus_env, name):
    from execution.validate import validate_prompt
    from execution.workflow import convert_workflow

    workflow = json.loads((TEMPLATES / f"{name}.json").read_text())
    result = validate_prompt(convert_workflow(workflow, corpus_env.registry).prompt, corpus_env.registry,
                             corpus_env.services)
    body = result.response()
    assert not body["error"] or body["error"]["type"] == "prompt_outputs_failed_validation", body["error"]
    errors = [(entry["class_type"], e) for entry in body["node_errors"].values() for e in entry["errors"]]
    assert errors
    for class_type, error in errors:  # only the missing weights, and the template's own input image
        if class_type == "LoadImage":
            assert error["type"] == "custom_validation_failed" and "image" in error["details"], error
        else:
            assert error["type"] == "value_not_in_list" and error["extra_info"]["input_name"] in \
                ("unet_name", "clip_name1", "clip_name2", "vae_name", "lora_name"), (class_type, error)


@pytest.mark.parametrize("name", FLUX_TOOLS_RUNNABLE)
def test_flux_tools_templates_run_on_the_demo_models(corpus_env, name):
    """InpaintModelConditioning + DifferentialDiffusion on the tiny FLUX Fill, Canny +
    InstructPixToPixConditioning on the tiny FLUX Canny; the input is an RGBA image whose
    transparent square is LoadImage's mask."""
    import numpy as np
    from PIL import Image

    from execution.workflow import convert_workflow

    rgba = np.full((64, 64, 4), 255, dtype=np.uint8)
    rgba[..., :3] = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgba[20:44, 12:40, 3] = 0
    Image.fromarray(rgba, "RGBA").save(Path(corpus_env.services.paths.input_dir) / "fill-input.png")
    workflow = json.loads((TEMPLATES / f"{name}.json").read_text())
    prompt = _substitute_flux_tools_names(convert_workflow(workflow, corpus_env.registry).prompt, "fill-input.png")
    kinds = {n["class_type"] for n in prompt.values()}
    assert {"InpaintModelConditioning", "DifferentialDiffusion"} <= kinds or "InstructPixToPixConditioning" in kinds
    result = corpus_env.run(prompt)
    assert result.status == "success", result.error
    saved = [item for e in corpus_env.events if type(e).__name__ == "Executed" for item in e.output.get("images", [])]
    assert saved
    with Image.open(Path(corpus_env.services.paths.output_dir) / saved[-1]["subfolder"] / saved[-1]["filename"]) as png:
        assert png.size == ((96, 80) if "outpaint" in name else (64, 64))
