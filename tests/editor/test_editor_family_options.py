"""Family-specific inputs in the Plexus editor: VLMCaption's Qwen-VL resize bounds and its video
socket follow the model chosen on the VLMLoader that feeds it (data from /object_info)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# Builds loader -> caption, then reports what the caption node shows for each model chosen.
FAMILY_STATES_JS = """(models) => {
  const LiteGraph = app.LiteGraph;
  const loader = LiteGraph.createNode("VLMLoader");
  const caption = LiteGraph.createNode("VLMCaption");
  loader.pos = [40, 40];
  caption.pos = [420, 40];
  app.graph.add(loader);
  app.graph.add(caption);
  const state = () => {
    app.canvas.draw(true, true);
    const hidden = caption.widgets.filter((w) => w.hidden).map((w) => w.name);
    const video = caption.inputs.find((s) => s.name === "video");
    return { hidden, video: video.label ?? video.name, height: Math.round(caption.size[1]) };
  };
  const states = { unconnected: state() };
  loader.connect(0, caption, "vlm");
  for (const model of models) {
    loader.widgets.find((w) => w.name === "vlm_name").value = model;
    states[model] = state();
  }
  caption.disconnectInput(caption.inputs.findIndex((s) => s.name === "vlm"));
  states.disconnected = state();
  loader.connect(0, caption, "vlm"); // left connected to the last model, for the screenshot
  state();
  return states;
}"""


def test_family_specific_inputs_follow_the_loaders_model(editor):
    editor.new_workflow()
    states = editor.eval(FAMILY_STATES_JS, ["tiny-llava", "tiny-qwen2-vl", "tiny-llava-next", "tiny-fuyu"])
    resize = ["min_pixels", "max_pixels"]
    assert states["unconnected"]["hidden"] == [] and states["unconnected"]["video"] == "video"
    assert states["tiny-llava"]["hidden"] == resize and states["tiny-llava"]["video"] == "video (not used by llava)"
    assert states["tiny-qwen2-vl"]["hidden"] == [] and states["tiny-qwen2-vl"]["video"] == "video"
    assert states["tiny-llava-next"] == {**states["tiny-llava"], "video": "video (not used by llava_next)"}
    assert states["tiny-fuyu"]["hidden"] == resize and states["tiny-fuyu"]["video"] == "video (not used by fuyu)"
    assert states["disconnected"] == states["unconnected"]
    assert states["tiny-llava"]["height"] < states["tiny-qwen2-vl"]["height"]  # hidden rows take no room
    editor.screenshot("family-options-fuyu")
    assert not editor.console_errors
