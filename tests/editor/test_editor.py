"""The browser editor in real headless Chromium against the real server and the tiny demo models.

Each test drives the canvas with the mouse where the scenario is about the canvas (search box,
dragging links, widgets) and uses the page API (`window.app`) for set-up and inspection.
Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

# A small graph built through the page API: [type, widget values by name, [links: (from idx, out slot, in name)]]
BUILD_GRAPH_JS = """(spec) => {
  app.graph.clear();
  const nodes = spec.map(([type, values], index) => {
    const node = app.addNode(type, [60 + index * 320, 80 + (index % 2) * 60]);
    for (const [name, value] of Object.entries(values || {})) {
      const widget = node.widgets.find((w) => w.name === name);
      widget.value = value;
    }
    return node;
  });
  spec.forEach(([, , links], index) => {
    for (const [from, slot, inputName] of links || []) nodes[from].connect(slot, nodes[index], inputName);
  });
  app.fitView();
  app.canvas.setDirty(true, true);
  app.changeTracker.reset();
  return nodes.map((n) => n.id);
}"""


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s")


def output_pngs(server) -> list[Path]:
    return sorted(server.output_dir.rglob("*.png")) if server.output_dir.exists() else []


def search_and_pick(editor, text: str) -> None:
    editor.page.wait_for_selector(".search-box .search-input")
    editor.page.fill(".search-box .search-input", text)
    editor.page.wait_for_selector(f'.search-result[data-type="{text}"]')
    editor.page.keyboard.press("Enter")
    editor.page.wait_for_selector(".search-box", state="detached")


def newest_node_id(editor) -> int:
    return editor.eval("Math.max(...app.graph._nodes.map((n) => n.id))")


def link_between(editor, origin_id: int, target_id: int, input_name: str) -> bool:
    return editor.eval("""([o, t, name]) => {
        const node = app.graph.getNodeById(t);
        const slot = node.inputs.find((s) => s.name === name);
        if (!slot || slot.link == null) return false;
        const link = app.graph.links.get ? app.graph.links.get(slot.link) : app.graph.links[slot.link];
        return link.origin_id === o;
    }""", [origin_id, target_id, input_name])


# 1 -------------------------------------------------------------------------------------------------
def test_page_loads_without_errors_and_palette_lists_server_nodes(editor, editor_server):
    info = editor_server.get_json("/object_info")
    testing = {name for name, entry in info.items() if entry["category"].startswith(("_for_testing", "testing"))}
    palette_types = set(editor.eval(
        "[...document.querySelectorAll('#palette .palette-item')].map((e) => e.dataset.type)"))
    assert info and set(info) - testing <= palette_types and not testing & palette_types
    categories = editor.eval("[...document.querySelectorAll('#palette .palette-category')].map((e) => e.dataset.category)")
    assert "image" in categories
    # The palette filter searches names and descriptions.
    editor.page.fill("#palette .palette-filter", "alpha channel")
    assert "LoadImage" in editor.eval("[...document.querySelectorAll('#palette .palette-item')].map((e) => e.dataset.type)")
    # First start: the default SD3 text-to-image workflow (workflows/sd3_text_to_image.json through
    # the user's workflow storage), ready to queue.
    default_types = set(editor.eval("app.graph._nodes.map((n) => n.type)"))
    assert {"CheckpointLoaderSimple", "CLIPTextEncode", "EmptySD3LatentImage", "KSampler", "VAEDecode", "SaveImage"} <= default_types
    default_prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert any(entry["class_type"] == "SaveImage" and entry["inputs"]["images"][0] in default_prompt
               for entry in default_prompt.values())
    shipped = json.loads((Path(__file__).parents[2] / "workflows" / "sd3_text_to_image.json").read_text())
    assert sorted(n["type"] for n in shipped["nodes"]) == sorted(editor.eval("app.graph._nodes.map((n) => n.type)"))
    # The editor's API conversion of the shipped workflow equals the shipped API version.
    shipped_api = json.loads((Path(__file__).parents[2] / "workflows" / "sd3_text_to_image_api.json").read_text())
    assert {k: (v["class_type"], v["inputs"]) for k, v in default_prompt.items()} == \
        {k: (v["class_type"], v["inputs"]) for k, v in shipped_api.items()}
    editor.screenshot("01-page-loaded")
    assert editor.console_errors == []
    assert editor.external_requests == []
    assert editor.eval("typeof app.graphToPrompt === 'function' && typeof app.queuePrompt === 'function'")


# 2 -------------------------------------------------------------------------------------------------
def test_build_sd3_text_to_image_by_search_and_links_then_queue(editor, editor_server):
    needed = {"CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "EmptySD3LatentImage", "VAEDecode", "SaveImage"}
    missing = needed - set(editor_server.get_json("/object_info"))
    assert not missing, f"server lacks SD3 nodes: {missing}"
    editor.new_workflow()
    page = editor.page

    # The checkpoint loader, by double-clicking the empty canvas and searching.
    box = page.locator("#graph-canvas").bounding_box()
    page.mouse.dblclick(box["x"] + 20, box["y"] + 300)
    search_and_pick(editor, "CheckpointLoaderSimple")
    checkpoint = newest_node_id(editor)

    def from_output_to_new(node_id, output, new_type, drop_at):
        editor.drag(editor.slot_point(node_id, output, is_input=False), drop_at)
        search_and_pick(editor, new_type)
        return newest_node_id(editor)

    # Dragging a link into empty space offers the nodes that accept its type.
    sampler = from_output_to_new(checkpoint, "MODEL", "KSampler", (box["x"] + 560, box["y"] + 80))
    positive = from_output_to_new(checkpoint, "CLIP", "CLIPTextEncode", (box["x"] + 270, box["y"] + 40))
    negative = from_output_to_new(checkpoint, "CLIP", "CLIPTextEncode", (box["x"] + 270, box["y"] + 300))
    # From an input backwards: nodes that output LATENT.
    editor.drag(editor.slot_point(sampler, "latent_image", is_input=True), (box["x"] + 270, box["y"] + 560))
    search_and_pick(editor, "EmptySD3LatentImage")
    latent = newest_node_id(editor)
    decode = from_output_to_new(sampler, "LATENT", "VAEDecode", (box["x"] + 560, box["y"] + 440))
    save = from_output_to_new(decode, "IMAGE", "SaveImage", (box["x"] + 600, box["y"] + 560))
    # Socket to socket.
    editor.drag(editor.slot_point(positive, "CONDITIONING", is_input=False), editor.slot_point(sampler, "positive", is_input=True))
    editor.drag(editor.slot_point(negative, "CONDITIONING", is_input=False), editor.slot_point(sampler, "negative", is_input=True))
    editor.drag(editor.slot_point(checkpoint, "VAE", is_input=False), editor.slot_point(decode, "vae", is_input=True))
    for origin, target, name in [(checkpoint, sampler, "model"), (checkpoint, positive, "clip"), (checkpoint, negative, "clip"),
                                 (latent, sampler, "latent_image"), (sampler, decode, "samples"), (decode, save, "images"),
                                 (positive, sampler, "positive"), (negative, sampler, "negative"), (checkpoint, decode, "vae")]:
        assert link_between(editor, origin, target, name), (origin, target, name)

    # The prompt is typed into the multi-line text overlay; the seed through the widget's prompt.
    page.locator('textarea.plexus-textarea[data-widget="text"]:visible').first.click()
    page.keyboard.type("a red fox in the snow")
    editor.eval("""([sampler, latent]) => {
        const s = app.graph.getNodeById(sampler), l = app.graph.getNodeById(latent);
        const set = (node, name, value) => { node.widgets.find((w) => w.name === name).value = value; };
        set(s, "steps", 2); set(s, "control_after_generate", "fixed"); set(l, "width", 64); set(l, "height", 64);
    }""", [sampler, latent])
    page.mouse.click(*editor.widget_point(sampler, "seed"))
    page.wait_for_selector(".graphdialog input")
    page.fill(".graphdialog input", "1234")
    page.keyboard.press("Enter")
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert prompt[str(sampler)]["inputs"]["seed"] == 1234
    assert prompt[str(positive)]["inputs"]["text"] == "a red fox in the snow" or \
        prompt[str(negative)]["inputs"]["text"] == "a red fox in the snow"
    editor.screenshot("02-sd3-built")

    before = set(output_pngs(editor_server))
    page.click("#btn-queue")
    editor.page.wait_for_function(f"app.graph.getNodeById({save}).runState?.images?.length > 0", timeout=120000)
    editor.page.wait_for_function(f"app.graph.getNodeById({save}).runState.images[0].complete", timeout=10000)
    new_files = wait_for(lambda: set(output_pngs(editor_server)) - before, message="a new PNG in output/")
    assert all(path.stat().st_size > 0 for path in new_files)
    assert editor.eval("document.querySelectorAll('#gallery-panel img').length") >= 1
    editor.screenshot("02-sd3-result")
    assert editor.console_errors == []


# 3 -------------------------------------------------------------------------------------------------
def test_mismatched_link_is_refused(editor):
    image, mask, save = editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 8, "height": 8}], ["InvertMask", {}], ["SaveImage", {}]])
    links_before = editor.eval("app.graph.links.size ?? Object.keys(app.graph.links).length")
    # IMAGE -> MASK input: refused.
    editor.drag(editor.slot_point(image, "IMAGE", is_input=False), editor.slot_point(mask, "mask", is_input=True))
    assert editor.eval(f"app.graph.getNodeById({mask}).inputs[0].link") is None
    assert editor.eval("app.graph.links.size ?? Object.keys(app.graph.links).length") == links_before
    # IMAGE -> IMAGE input with the same gesture: accepted (the refusal above is about the type).
    editor.drag(editor.slot_point(image, "IMAGE", is_input=False), editor.slot_point(save, "images", is_input=True))
    assert link_between(editor, image, save, "images")
    editor.screenshot("03-mismatched-link")


# 4 -------------------------------------------------------------------------------------------------
def _comparable(workflow: dict) -> dict:
    nodes = sorted(({"id": n["id"], "type": n["type"], "pos": [round(v, 3) for v in n["pos"]], "mode": n.get("mode", 0),
                     "widgets_values": n.get("widgets_values"),
                     "links": [(s["name"], s.get("link")) for s in n.get("inputs", []) if s.get("link") is not None]}
                    for n in workflow["nodes"]), key=lambda n: n["id"])
    links = sorted(tuple(link) for link in workflow["links"])
    return {"nodes": nodes, "links": links}


def test_open_save_round_trip(editor, tmp_path):
    editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 32, "height": 16, "color": 255}], ["ImageInvert", {}, [[0, 0, "image"]]],
                                 ["SaveImage", {"filename_prefix": "roundtrip"}, [[1, 0, "images"]]]])
    editor.eval("app.graph._nodes.find((n) => n.type === 'ImageInvert').mode = 4")
    original = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    source = tmp_path / "original.json"
    source.write_text(json.dumps(original))

    editor.new_workflow()
    with editor.page.expect_file_chooser() as chooser:
        editor.page.click("#btn-open")
    chooser.value.set_files(str(source))
    editor.page.wait_for_function("app.graph._nodes.length === 3")
    with editor.page.expect_download() as download:
        editor.page.click("#btn-save")
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved["version"] == 0.4 or saved.get("version") == 1
    assert _comparable(saved) == _comparable(original)
    # Bypassed node: the API prompt routes around it ("Export API" downloads the same prompt).
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    with editor.page.expect_download() as api_download:
        editor.page.click("#btn-export-api")
    assert json.loads(Path(api_download.value.path()).read_text()) == prompt
    assert "ImageInvert" not in {entry["class_type"] for entry in prompt.values()}
    save_entry = next(entry for entry in prompt.values() if entry["class_type"] == "SaveImage")
    assert prompt[save_entry["inputs"]["images"][0]]["class_type"] == "EmptyImage"
    # The version-1 format (links as objects, `state`) loads to the same graph.
    version_1 = editor.eval("JSON.parse(JSON.stringify(app.graph.asSerialisable()))")
    assert version_1["version"] == 1 and isinstance(version_1["links"][0], dict)
    editor.new_workflow()
    editor.load_workflow(version_1)
    assert editor.eval("app.graphToPrompt().then((r) => r.output)") == prompt
    editor.screenshot("04-round-trip")


# 5 -------------------------------------------------------------------------------------------------
def test_drop_plexus_png_restores_workflow(editor, editor_server):
    editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 24, "height": 24, "color": 65280}],
                                 ["SaveImage", {"filename_prefix": "dropme"}, [[0, 0, "images"]]]])
    expected = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    before = set(output_pngs(editor_server))
    editor.eval("app.queuePrompt()")
    png = wait_for(lambda: [p for p in set(output_pngs(editor_server)) - before if p.name.startswith("dropme")],
                   message="the saved PNG")[0]
    editor_server.wait_idle()

    editor.new_workflow()
    payload = base64.b64encode(png.read_bytes()).decode()
    data_transfer = editor.page.evaluate_handle("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "plexus.png", { type: "image/png" }));
        return transfer;
    }""", payload)
    x, y = editor.empty_spot()
    editor.page.dispatch_event("#canvas-host", "drop", {"dataTransfer": data_transfer, "clientX": x, "clientY": y})
    editor.page.wait_for_function("app.graph._nodes.length === 2")
    restored = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    assert _comparable(restored)["nodes"] == _comparable(expected)["nodes"]
    assert _comparable(restored)["links"] == _comparable(expected)["links"]
    editor.screenshot("05-png-dropped")


# 6 -------------------------------------------------------------------------------------------------
def test_validation_error_is_highlighted_on_the_node(editor):
    image, save = editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 8, "height": 8}], ["SaveImage", {}]])
    response = editor.eval("app.queuePrompt()")
    assert response["node_errors"][str(save)]["errors"][0]["type"] == "required_input_missing"
    assert editor.eval(f"app.graph.getNodeById({save}).has_errors") is True
    assert editor.eval(f"app.graph.getNodeById({save}).inputs.find((s) => s.name === 'images').hasErrors") is True
    assert editor.eval(f"app.graph.getNodeById({image}).has_errors") in (None, False)
    panel = editor.page.inner_text("#error-panel")
    assert "Required input is missing" in panel and "images" in panel
    editor.screenshot("06-validation-error")
    # Fixing the graph and queueing again clears the highlight.
    editor.eval(f"app.graph.getNodeById({image}).connect(0, app.graph.getNodeById({save}), 'images')")
    editor.eval("app.queuePrompt()")
    assert editor.eval(f"app.graph.getNodeById({save}).has_errors") is False
    assert editor.page.locator("#error-panel").is_hidden()


# 7 -------------------------------------------------------------------------------------------------
def test_interrupt_a_running_job(editor, editor_server):
    info = editor_server.get_json("/object_info")
    assert "KSampler" in info, "server lacks the KSampler node"
    workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")  # the default SD3 workflow
    sampler = editor.node_ids_by_type("KSampler")
    if not sampler:
        editor.eval("app.loadDefaultWorkflow()")
        sampler = editor.node_ids_by_type("KSampler")
    assert sampler, workflow
    sampler = sampler[0]
    editor.eval("""(id) => {
        const sampler = app.graph.getNodeById(id);
        sampler.widgets.find((w) => w.name === "steps").value = 5000;
        sampler.widgets.find((w) => w.name === "control_after_generate").value = "fixed";
        for (const node of app.graph._nodes.filter((n) => n.type === "EmptySD3LatentImage")) {
            node.widgets.find((w) => w.name === "width").value = 32;
            node.widgets.find((w) => w.name === "height").value = 32;
        }
    }""", sampler)
    history_before = set(editor_server.get_json("/history"))
    editor.page.fill("#batch-count", "2")  # one job runs, the second waits
    editor.page.dispatch_event("#batch-count", "change")
    editor.page.click("#btn-queue")
    editor.page.wait_for_function(f"app.graph.getNodeById({sampler}).runState?.progress?.value > 0", timeout=120000)
    editor.page.click('.tab-button[data-panel="queue-panel"]')
    editor.page.click("#queue-panel .queue-refresh")
    editor.page.wait_for_selector("#queue-panel .queue-row.pending .queue-cancel", timeout=10000)
    editor.screenshot("07-running")
    editor.page.click("#queue-panel .queue-row.pending .queue-cancel")
    editor.page.wait_for_selector("#queue-panel .queue-row.pending", state="detached", timeout=10000)
    editor.page.wait_for_selector("#queue-panel .queue-row.running .queue-interrupt", timeout=10000)
    editor.page.click("#queue-panel .queue-row.running .queue-interrupt")
    editor.page.wait_for_function(f"!app.graph.getNodeById({sampler}).runState.executing", timeout=30000)
    editor_server.wait_idle(30)
    history = editor_server.get_json("/history")
    new = [history[key] for key in set(history) - history_before]
    assert len(new) == 1  # the cancelled job never ran
    assert new[0]["status"]["status_str"] != "success"
    assert any(message[0] == "execution_interrupted" for message in new[0]["status"].get("messages", []))
    editor.screenshot("07-interrupted")


# 8 -------------------------------------------------------------------------------------------------
def test_upload_image_through_load_image_widget_and_use_it(editor, editor_server, tmp_path):
    from PIL import Image

    picture = tmp_path / "upload_me.png"
    Image.new("RGB", (20, 12), (10, 200, 30)).save(picture)
    load, save = editor.eval(BUILD_GRAPH_JS, [["LoadImage", {}], ["SaveImage", {"filename_prefix": "uploaded"}, [[0, 0, "images"]]]])
    editor.page.wait_for_timeout(100)
    with editor.page.expect_file_chooser() as chooser:
        editor.page.mouse.click(*editor.widget_point(load, "choose file to upload"))
    chooser.value.set_files(str(picture))
    editor.page.wait_for_function(f"app.graph.getNodeById({load}).widgets[0].value === 'upload_me.png'")
    assert (editor_server.input_dir / "upload_me.png").is_file()
    assert "upload_me.png" in editor.eval(f"app.graph.getNodeById({load}).widgets[0].options.values")
    editor.page.wait_for_function(f"app.graph.getNodeById({load}).runState.images[0]?.complete")
    assert editor.eval(f"app.graph.getNodeById({load}).runState.images[0].naturalWidth") == 20
    before = set(output_pngs(editor_server))
    editor.eval("app.queuePrompt()")
    new_files = wait_for(lambda: [p for p in set(output_pngs(editor_server)) - before if p.name.startswith("uploaded")],
                         message="the saved upload")
    with Image.open(new_files[0]) as saved:
        assert saved.size == (20, 12)
        assert saved.convert("RGB").getpixel((5, 5)) == (10, 200, 30)
    editor.page.wait_for_function(f"app.graph.getNodeById({save}).runState?.images?.length > 0")
    editor.screenshot("08-upload")
