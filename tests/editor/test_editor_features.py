"""Editor features beyond the eight scenarios: seed control after queueing with a batch count,
widget <-> input conversion, mute/bypass/reroute/primitive in the API prompt, undo/redo,
user storage and restore-on-reload, web extensions, streamed text, and the ?token= carry-over.
"""
from __future__ import annotations

import json
import struct
import time
import urllib.error
import urllib.request

import pytest

from tests.fixtures.browser import launch_server, open_editor
from tests.editor.test_editor import BUILD_GRAPH_JS, wait_for

pytestmark = pytest.mark.browser


def widget_value(editor, node_id: int, name: str):
    return editor.eval("([id, name]) => app.graph.getNodeById(id).widgets.find((w) => w.name === name).value", [node_id, name])


def set_widget(editor, node_id: int, name: str, value) -> None:
    editor.eval("([id, name, value]) => { app.graph.getNodeById(id).widgets.find((w) => w.name === name).value = value; }",
                [node_id, name, value])


def test_seed_control_after_generate_with_batch_count(editor, editor_server):
    editor.eval("app.loadDefaultWorkflow()")
    sampler = editor.node_ids_by_type("KSampler")[0]
    latent = editor.node_ids_by_type("EmptySD3LatentImage")[0]
    for node_id, name, value in [(sampler, "seed", 5), (sampler, "control_after_generate", "increment"),
                                 (sampler, "steps", 1), (latent, "width", 32), (latent, "height", 32)]:
        set_widget(editor, node_id, name, value)
    history_before = set(editor_server.get_json("/history"))
    editor.page.fill("#batch-count", "2")
    editor.page.dispatch_event("#batch-count", "change")
    editor.page.click("#btn-queue")
    editor.page.wait_for_function(f"app.graph.getNodeById({sampler}).widgets.find((w) => w.name === 'seed').value === 7")
    editor_server.wait_idle(120)
    history = editor_server.get_json("/history")
    new = [history[key] for key in set(history) - history_before]
    seeds = sorted(item["prompt"][2][str(sampler)]["inputs"]["seed"] for item in new)
    assert seeds == [5, 6]
    # The editor JSON travels with the prompt (extra_pnginfo.workflow) and carries the UI-only control value.
    workflow = new[0]["prompt"][3]["extra_pnginfo"]["workflow"]
    sampler_node = next(n for n in workflow["nodes"] if n["id"] == sampler)
    assert sampler_node["widgets_values"][1] == "increment"
    # A past job's workflow can be loaded back from the history panel.
    editor.new_workflow()
    editor.page.click('.tab-button[data-panel="queue-panel"]')
    editor.page.click("#queue-panel .queue-refresh")
    editor.page.locator("#queue-panel .queue-row.history .history-load").first.click()
    editor.page.wait_for_function("app.graph._nodes.some((n) => n.type === 'KSampler')")
    assert widget_value(editor, sampler, "seed") in (5, 6)


def test_palette_adds_nodes_by_click_and_by_drag(editor):
    editor.new_workflow()
    editor.page.fill("#palette .palette-filter", "EmptyImage")
    editor.page.click('#palette .palette-item[data-type="EmptyImage"]')
    editor.page.wait_for_function("app.graph._nodes.length === 1")
    x, y = editor.empty_spot()
    box = editor.page.locator("#graph-canvas").bounding_box()
    editor.page.drag_and_drop('#palette .palette-item[data-type="EmptyImage"]', "#canvas-host",
                              target_position={"x": x - box["x"], "y": y - box["y"]})
    editor.page.wait_for_function("app.graph._nodes.length === 2")
    dropped = editor.eval("app.graph._nodes[1].pos")
    expected = editor.eval("""([x, y]) => { const r = app.canvas.canvas.getBoundingClientRect();
        return app.canvas.ds.convertCanvasToOffset([x - r.left, y - r.top]); }""", [x, y])
    assert abs(dropped[0] - expected[0]) < 2 and abs(dropped[1] - expected[1]) < 2


def test_widget_converts_to_input_and_back(editor):
    # No animation frame runs until the menu is open, as on a loaded machine where frames come late:
    # widget rows and node bounds are measured only when drawn (before that a widget's `last_y` is
    # undefined and its `y` 0), so a point read from them used to land above the node, on the
    # canvas menu. The helpers draw the canvas before reading any position.
    editor.eval("app.canvas.pause_rendering = true")
    image, save = editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 16, "height": 16}], ["SaveImage", {}, [[0, 0, "images"]]]])
    # Through the node's context menu, as a user does it.
    editor.page.mouse.click(*editor.title_point(image), button="right")
    editor.page.wait_for_selector(".litecontextmenu")
    editor.eval("app.canvas.pause_rendering = false")
    editor.page.click(".litecontextmenu .litemenu-entry:has-text('Convert width to input')")
    assert editor.eval(f"app.graph.getNodeById({image}).widgets.find((w) => w.name === 'width').hidden") is True
    slot = editor.eval(f"app.graph.getNodeById({image}).inputs.find((s) => s.name === 'width')")
    assert "widget" not in slot or slot["widget"] is None
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert "width" not in prompt[str(image)]["inputs"]  # a converted input needs a link
    # A PrimitiveNode feeds it a constant.
    primitive = editor.eval(f"""() => {{
        const primitive = app.addNode("PrimitiveNode", [-300, 0]);
        primitive.connect(0, app.graph.getNodeById({image}), "width");
        primitive.widgets[0].value = 24;
        return primitive.id;
    }}""")
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert prompt[str(image)]["inputs"]["width"] == 24
    assert str(primitive) not in prompt
    # Saved and reloaded, it stays converted; the saved input keeps ComfyUI's widget marker.
    workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    saved_input = next(i for n in workflow["nodes"] if n["id"] == image for i in n["inputs"] if i["name"] == "width")
    assert saved_input["widget"] == {"name": "width"}
    editor.load_workflow(workflow)
    assert editor.eval(f"app.graph.getNodeById({image}).widgets.find((w) => w.name === 'width').hidden") is True
    assert editor.eval("app.graphToPrompt().then((r) => r.output)")[str(image)]["inputs"]["width"] == 24
    # And back to a widget: the link goes, the widget's own value is used again.
    assert editor.eval(f"app.convertInputToWidget(app.graph.getNodeById({image}), 'width')") is True
    assert editor.eval(f"app.graph.getNodeById({image}).widgets.find((w) => w.name === 'width').hidden") is False
    assert editor.eval("app.graphToPrompt().then((r) => r.output)")[str(image)]["inputs"]["width"] == 16
    editor.screenshot("features-widget-input")


def test_mute_bypass_reroute_in_api_prompt_and_shortcuts(editor):
    ids = editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 8, "height": 8}], ["Reroute", {}, [[0, 0, 0]]],
                                       ["ImageInvert", {}, [[1, 0, "image"]]], ["SaveImage", {}, [[2, 0, "images"]]],
                                       ["PreviewImage", {}, [[0, 0, "images"]]], ["Note", {"text": "just a note"}]])
    image, reroute, invert, save, preview, note = ids
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert str(reroute) not in prompt and str(note) not in prompt
    assert prompt[str(invert)]["inputs"]["image"] == [str(image), 0]
    # Ctrl+B bypasses the selected node; Ctrl+M mutes.
    editor.eval(f"app.canvas.deselectAll(); app.canvas.selectNode(app.graph.getNodeById({invert}))")
    editor.page.keyboard.press("Control+b")
    editor.eval(f"app.canvas.deselectAll(); app.canvas.selectNode(app.graph.getNodeById({preview}))")
    editor.page.keyboard.press("Control+m")
    assert editor.eval(f"[app.graph.getNodeById({invert}).mode, app.graph.getNodeById({preview}).mode]") == [4, 2]
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert str(invert) not in prompt and str(preview) not in prompt
    assert prompt[str(save)]["inputs"]["images"] == [str(image), 0]
    editor.screenshot("features-modes")


def test_undo_redo_copy_paste(editor):
    editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {}]])
    editor.eval("app.addNode('InvertMask', [400, 100])")
    assert editor.eval("app.graph._nodes.length") == 2
    editor.page.locator("#graph-canvas").focus()
    editor.page.keyboard.press("Control+z")
    editor.page.wait_for_function("app.graph._nodes.length === 1")
    editor.page.keyboard.press("Control+y")
    editor.page.wait_for_function("app.graph._nodes.length === 2")
    # Copy/paste through litegraph's own shortcuts on the canvas.
    image = editor.node_ids_by_type("EmptyImage")[0]
    editor.eval(f"app.canvas.deselectAll(); app.canvas.selectNode(app.graph.getNodeById({image}))")
    editor.page.mouse.move(*editor.empty_spot())
    editor.page.locator("#graph-canvas").focus()
    editor.page.keyboard.press("Control+c")
    editor.page.keyboard.press("Control+v")
    editor.page.wait_for_function("app.graph._nodes.filter((n) => n.type === 'EmptyImage').length === 2")
    # Ctrl+G groups the selection; the group is saved with the workflow.
    editor.eval("app.canvas.selectItems(app.graph._nodes)")
    editor.page.keyboard.press("Control+g")
    workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    assert len(workflow["groups"]) == 1
    x, y, w, h = workflow["groups"][0]["bounding"]
    for node in workflow["nodes"]:
        assert x <= node["pos"][0] and node["pos"][0] + node["size"][0] <= x + w


def test_user_storage_and_restore_on_reload(editor, editor_server, chromium_browser):
    editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {"width": 40}], ["SaveImage", {"filename_prefix": "stored"}, [[0, 0, "images"]]]])
    editor.page.fill("#workflow-name", "my flow")
    editor.page.click('.tab-button[data-panel="workflows-panel"]')
    editor.page.click(".workflow-save-server")
    editor.page.wait_for_selector('.workflow-row[data-name="my flow.json"]')
    stored = list(editor_server.base_dir.joinpath("user").rglob("my flow.json"))
    assert stored and json.loads(stored[0].read_text())["nodes"]
    # Reload: the last workflow comes back from the browser's storage.
    editor.page.reload()
    editor.page.wait_for_function("document.body.dataset.ready === 'true'")
    assert sorted(editor.eval("app.graph._nodes.map((n) => n.type)")) == ["EmptyImage", "SaveImage"]
    # Load from user storage after clearing the canvas.
    editor.new_workflow()
    editor.page.click('.tab-button[data-panel="workflows-panel"]')
    editor.page.click('.workflow-row[data-name="my flow.json"]')
    editor.page.wait_for_function("app.graph._nodes.length === 2")
    assert editor.eval("app.graph._nodes.find((n) => n.type === 'EmptyImage').widgets[0].value") == 40
    editor.screenshot("features-user-storage")


def test_web_extension_is_loaded_and_hooks_run(editor):
    probe = editor.eval("window.editorProbe")
    assert probe["sameApi"] is True
    assert probe["calls"][:2] == ["init", "setup"]
    assert editor.eval("app.LiteGraph.registered_node_types.EditorProbe.prototype.probeMarked") is True
    editor.eval("app.addNode('EditorProbe')")
    assert "nodeCreated" in editor.eval("window.editorProbe.calls")
    editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {}], ["SaveImage", {}, [[0, 0, "images"]]]])
    editor.eval("app.queuePrompt()")
    assert editor.eval("window.editorProbe.queued") == 2
    with pytest.raises(Exception):
        editor.eval("app.registerExtension({ name: 'editor.probe' })")  # names are unique


def test_text_outputs_and_streamed_text_are_shown(editor, editor_server):
    text_source, preview = editor.eval(BUILD_GRAPH_JS, [["PrimitiveString", {"value": "hello from the server"}],
                                                        ["PreviewText", {}, [[0, 0, "text"]]]])
    editor.eval("app.queuePrompt()")
    editor.page.wait_for_function(f"app.graph.getNodeById({preview}).runState?.text === 'hello from the server'")
    editor_server.wait_idle()
    # A binary type-3 frame (uint32 type, uint32 id length, id, UTF-8 text) appends to the node's text.
    node_id = str(preview).encode()
    frame = list(struct.pack(">II", 3, len(node_id)) + node_id + " — streamed ✓".encode())
    editor.eval("""(bytes) => app.api.socket.dispatchEvent(new MessageEvent("message", { data: new Uint8Array(bytes).buffer }))""", frame)
    assert editor.eval(f"app.graph.getNodeById({preview}).runState.text") == "hello from the server — streamed ✓"
    editor.screenshot("features-text")


def test_editor_works_behind_an_auth_token(chromium_browser, tmp_path):
    """With --auth-token, the page opened as /?token=... carries the token to every request
    (HTTP and websocket) and works; without it the API refuses."""
    server = launch_server(tmp_path, ["--auth-token", "sesame"])
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "/object_info", timeout=5)
        assert refused.value.code == 401
        page = open_editor(chromium_browser, server, query="?token=sesame")
        try:
            seen = []
            page.page.on("request", lambda request: seen.append(request.url))
            page.eval("app.api.getQueue()")
            wait_for(lambda: any("/queue" in url for url in seen), timeout=5)
            assert all("token=sesame" in url for url in seen if "/queue" in url)
            assert "token=sesame" in page.eval("app.api.socket.url")
            page.page.wait_for_function("app.api.socket.readyState === WebSocket.OPEN")
            assert page.eval("Object.keys(app.objectInfo).length") > 10
            assert page.console_errors == []
        finally:
            page.page.context.close()
    finally:
        server.stop()


def test_execution_error_is_shown_on_the_failing_node(editor, editor_server):
    editor_server.input_dir.mkdir(parents=True, exist_ok=True)
    (editor_server.input_dir / "broken_picture.png").write_bytes(b"this is not a PNG")
    load, save = editor.eval(BUILD_GRAPH_JS, [["LoadImage", {}], ["SaveImage", {"filename_prefix": "never"}, [[0, 0, "images"]]]])
    editor.eval("app.refreshComboValues()")
    editor.page.wait_for_function(f"app.graph.getNodeById({load}).widgets[0].options.values.includes('broken_picture.png')")
    set_widget(editor, load, "image", "broken_picture.png")
    response = editor.eval("app.queuePrompt()")
    assert response["node_errors"] == {}
    editor.page.wait_for_function(f"app.graph.getNodeById({load}).has_errors === true", timeout=30000)
    panel = editor.page.inner_text("#error-panel")
    assert f"#{load}" in panel
    assert editor.eval(f"app.graph.getNodeById({save}).has_errors") in (None, False)
    editor.screenshot("features-execution-error")


def test_vlm_caption_streams_text_onto_the_node(editor, editor_server):
    """A real VLM node (tiny demo LLaVA) streams its tokens (binary type-3 frames) onto itself;
    the final caption lands on PreviewText."""
    choices = editor_server.get_json("/object_info/VLMLoader")["VLMLoader"]["input"]["required"]["vlm_name"][0]
    assert "tiny-llava" in choices, "no demo LLaVA model"
    loader, image, caption, preview = editor.eval(BUILD_GRAPH_JS, [
        ["VLMLoader", {"vlm_name": "tiny-llava"}], ["EmptyImage", {"width": 32, "height": 32, "color": 16711680}],
        ["VLMCaption", {"max_new_tokens": 8, "control_after_generate": "fixed"}, [[0, 0, "vlm"], [1, 0, "image"]]],
        ["PreviewText", {}, [[2, 0, "text"]]]])
    frames = []
    editor.page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    editor.eval("app.api.socket.close()")  # reconnect so that Playwright sees the socket's frames
    editor.page.wait_for_function("app.api.socket.readyState === WebSocket.OPEN")
    editor.eval("app.queuePrompt()")
    editor.page.wait_for_function(f"app.graph.getNodeById({preview}).runState?.text?.length > 0", timeout=120000)
    final = editor.eval(f"app.graph.getNodeById({preview}).runState.text")
    streamed = editor.eval(f"app.graph.getNodeById({caption}).runState.text")
    assert any(isinstance(frame, bytes) and frame[:4] == b"\x00\x00\x00\x03" for frame in frames)
    assert streamed.strip() and final.strip().startswith(streamed.strip()[:5])
    editor.screenshot("features-vlm-stream")


def test_cluster_restart_event_clears_the_dead_attempts_progress(editor):
    editor.eval("app.loadDefaultWorkflow()")
    sampler = editor.node_ids_by_type("KSampler")[0]
    # A cluster worker lost mid-job: the server sends `execution_restarted` before the new attempt.
    editor.eval(f"""() => {{
        const send = (type, detail) => app.api.dispatchEvent(new CustomEvent(type, {{ detail }}));
        send("execution_start", {{ prompt_id: "p1" }});
        send("executing", {{ node: "{sampler}", display_node: "{sampler}", prompt_id: "p1" }});
        send("progress", {{ node: "{sampler}", value: 3, max: 4, prompt_id: "p1" }});
    }}""")
    state = f"() => {{ const s = app.graph.getNodeById({sampler}).runState; return [s.progress, s.executing]; }}"
    assert editor.eval(state) == [{"value": 3, "max": 4}, True]
    editor.eval("() => app.api.dispatchEvent(new CustomEvent('execution_restarted', "
                "{ detail: { prompt_id: 'p1', attempt: 2, reason: 'worker lost' } }))")
    assert editor.eval(state) == [None, False]
