"""ComfyUI's dynamic inputs in the Plexus editor: BatchImagesNode's sockets grow and shrink with its
links (Autogrow), SaveImageAdvanced's format brings its own widgets (DynamicCombo); the prompt uses
the frontend's dotted names, a saved workflow reloads the same, a template's positional
``widgets_values`` land on the chosen option's widgets, and the queued graph writes a 16-bit PNG."""
from __future__ import annotations

import json

import pytest

from tests.editor.test_editor import BUILD_GRAPH_JS, wait_for

pytestmark = pytest.mark.browser

INPUT_NAMES_JS = "(id) => app.graph.getNodeById(id).inputs.map((slot) => slot.name)"
WIDGET_NAMES_JS = "(id) => app.graph.getNodeById(id).widgets.map((w) => w.name)"


def test_autogrow_and_dynamic_combo_build_run_and_reload(editor, editor_server):
    red, blue, batch, save = editor.eval(BUILD_GRAPH_JS, [
        ["EmptyImage", {"width": 8, "height": 8, "color": 0xFF0000}],
        ["EmptyImage", {"width": 8, "height": 8, "color": 0x0000FF}],
        ["BatchImagesNode", {}],
        ["SaveImageAdvanced", {"filename_prefix": "grown", "format": "avif"}, [[2, 0, "images"]]]])
    assert editor.eval(INPUT_NAMES_JS, batch) == ["images.image0", "images.image1"]
    editor.eval("([a, b, batch]) => { const node = app.graph.getNodeById(batch);"
                " app.graph.getNodeById(a).connect(0, node, 'images.image0');"
                " app.graph.getNodeById(b).connect(0, node, 'images.image1'); }", [red, blue, batch])
    assert editor.eval(INPUT_NAMES_JS, batch) == ["images.image0", "images.image1", "images.image2"]

    assert "format.crf" in editor.eval(WIDGET_NAMES_JS, save)
    editor.eval("(id) => { const node = app.graph.getNodeById(id);"
                " node.widgets.find((w) => w.name === 'format').value = 'png';"
                " node.widgets.find((w) => w.name === 'format.bit_depth').value = '16-bit'; }", save)
    assert editor.eval(WIDGET_NAMES_JS, save) == ["filename_prefix", "format", "format.bit_depth",
                                                  "format.input_color_space"]
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert prompt[str(batch)]["inputs"] == {"images.image0": [str(red), 0], "images.image1": [str(blue), 0]}
    assert prompt[str(save)]["inputs"] == {"filename_prefix": "grown", "format": "png", "format.bit_depth": "16-bit",
                                           "format.input_color_space": "sRGB", "images": [str(batch), 0]}

    workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    editor.load_workflow(json.loads(json.dumps(workflow)))
    assert editor.eval("app.graphToPrompt().then((r) => r.output)") == prompt
    assert editor.eval(INPUT_NAMES_JS, batch) == ["images.image0", "images.image1", "images.image2"]

    editor.eval("app.queuePrompt(0, 1)")

    def both_pngs() -> list[str] | None:  # the node writes them one after the other
        names = sorted(p.name for p in editor_server.output_dir.glob("grown_*.png"))
        return names if len(names) >= 2 else None

    saved = wait_for(both_pngs, timeout=60, message="the 16-bit PNGs")
    assert saved == ["grown_00001.png", "grown_00002.png"]
    with open(editor_server.output_dir / saved[0], "rb") as png:
        assert png.read(25)[24] == 16  # IHDR bit depth

    editor.eval("(id) => app.graph.getNodeById(id).disconnectInput(1)", batch)
    wait_for(lambda: editor.eval(INPUT_NAMES_JS, batch) == ["images.image0", "images.image1"],
             message="the free socket after image0 only")
    editor.screenshot("dynamic-inputs")


def test_template_widgets_values_follow_the_dynamic_combo(editor):
    import comfyui_workflow_templates_json as templates
    from pathlib import Path

    path = Path(templates.__file__).parent / "templates" / "utility_image_stitch.json"
    editor.load_workflow(json.loads(path.read_text()))
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    (resize,) = [node for node in prompt.values() if node["class_type"] == "ResizeImageMaskNode"]
    assert {k: v for k, v in resize["inputs"].items() if k != "input"} == {
        "resize_type": "scale dimensions", "resize_type.width": 2048, "resize_type.height": 2048,
        "resize_type.crop": "center", "scale_method": "lanczos"}
