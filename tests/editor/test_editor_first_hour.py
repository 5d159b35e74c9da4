"""What a newcomer meets in the editor's first hour (issue 12): the search box stays on screen and
ranks the display name first, test and example nodes stay out of the palette, the Workflows panel
offers every shipped workflow (API-format ones laid out, unreadable ones explained), the error panel
closes and re-opens, New/Default reset the name, an opened file fits the view, history entries say
what happened, converted inputs keep their label, and MarkdownNote renders Markdown without ever
rendering HTML."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.editor.test_editor import BUILD_GRAPH_JS
from tests.editor.test_editor_features import set_widget
from tests.fixtures.browser import ROOT

pytestmark = pytest.mark.browser


def nodes_inside_view_js() -> str:
    return """() => {
      const [width, height] = [app.canvas.canvas.clientWidth, app.canvas.canvas.clientHeight];
      return app.graph._nodes.every((n) => {
        const [x0, y0] = app.canvas.ds.convertOffsetToCanvas([n.pos[0], n.pos[1] - 30]);
        const [x1, y1] = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
        return x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height;
      });
    }"""


def search_results(editor, text: str) -> list[str]:
    editor.page.fill(".search-box .search-input", text)
    return editor.eval("[...document.querySelectorAll('.search-box .search-result')].map((r) => r.dataset.type)")


def test_search_box_stays_in_the_viewport_and_ranks_the_display_name_first(editor):
    editor.new_workflow()
    box = editor.page.locator("#graph-canvas").bounding_box()
    corner = (box["x"] + box["width"] - 5, box["y"] + box["height"] - 5)
    editor.page.mouse.dblclick(*corner)
    editor.page.wait_for_selector(".search-box .search-input")
    ranked = search_results(editor, "ksampler")
    assert ranked[0] == "KSampler" and "KSamplerAdvanced" in ranked[1:4]  # exact, then prefixes
    assert search_results(editor, "load image")[0] == "LoadImage"  # exact name, spaces aside
    assert search_results(editor, "VAE Decode")[0] == "VAEDecode"  # exact display name
    results = search_results(editor, "image")
    titles = editor.eval("[...document.querySelectorAll('.search-box .search-result span')].map((s) => s.textContent)")
    first_non_prefix = next(i for i, title in enumerate(titles) if not title.lower().startswith("image"))
    assert all(not t.lower().startswith("image") for t in titles[first_non_prefix:])  # prefixes come first
    assert len(results) > 5
    rect = editor.eval("(() => { const r = document.querySelector('.search-box').getBoundingClientRect();"
                       " return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight]; })()")
    left, top, right, bottom, width, height = rect
    assert left >= 0 and top >= 0 and right <= width and bottom <= height, rect
    editor.page.keyboard.press("Escape")


def test_test_and_example_nodes_are_hidden_until_asked_for(editor):
    shown = editor.eval("[...document.querySelectorAll('#palette .palette-item')].map((e) => e.dataset.type)")
    assert "KSampler" in shown and "VAEDecodeTiled" not in shown  # category _for_testing
    editor.page.fill("#palette .palette-filter", "VAE Decode")
    assert editor.eval("[...document.querySelectorAll('#palette .palette-item')].map((e) => e.dataset.type)") == ["VAEDecode"]
    editor.page.check("#palette .palette-show-testing input")
    assert "VAEDecodeTiled" in editor.eval(
        "[...document.querySelectorAll('#palette .palette-item')].map((e) => e.dataset.type)")


def test_workflows_panel_lists_and_opens_every_shipped_workflow(editor, editor_server):
    (editor_server.base_dir / "user" / "default" / "workflows" / "broken.json").write_text("{not json")
    editor.page.click('.tab-button[data-panel="workflows-panel"]')
    editor.eval("app.workflowsPanel.refresh()")
    listed = set(editor.eval("[...document.querySelectorAll('#workflows-panel .workflow-row')].map((r) => r.dataset.name)"))
    shipped = {path.name for path in (ROOT / "workflows").glob("*.json")}
    assert shipped <= listed
    editor.page.click('#workflows-panel .workflow-row[data-name="sd3_text_to_image_api.json"]')
    api_prompt = json.loads((ROOT / "workflows" / "sd3_text_to_image_api.json").read_text())
    # the panel names the workflow last, after laying it out and fitting the view
    editor.page.wait_for_function("document.querySelector('#workflow-name').value === 'sd3_text_to_image_api'")
    assert editor.eval("app.graph._nodes.length") == len(api_prompt)
    positions = editor.eval("app.graph._nodes.map((n) => n.pos.join(','))")
    assert len(set(positions)) == len(api_prompt)  # laid out, not piled up
    assert editor.eval("app.graph.links.size ?? Object.keys(app.graph.links).length") > 0
    assert editor.eval(nodes_inside_view_js())
    assert editor.page.input_value("#workflow-name") == "sd3_text_to_image_api"
    editor.page.click('#workflows-panel .workflow-row[data-name="broken.json"]')
    toast = editor.page.wait_for_selector(".toast.error")
    assert toast.text_content().startswith("Could not open broken.json: not valid JSON")


def test_error_panel_closes_and_reopens(editor):
    editor.eval(BUILD_GRAPH_JS, [["SaveImage", {}]])  # its images input is missing
    editor.page.click("#btn-queue")
    editor.page.wait_for_selector("#error-panel .error-line")
    assert editor.page.is_hidden("#btn-errors")
    editor.page.click("#error-panel .error-close")
    assert editor.page.is_hidden("#error-panel") and editor.page.is_visible("#btn-errors")
    assert editor.page.text_content("#btn-errors") == "Errors (2)"  # the summary and the node's line
    editor.page.click("#btn-errors")
    assert editor.page.is_visible("#error-panel .error-line") and editor.page.is_hidden("#btn-errors")


def test_new_and_default_reset_the_name_and_opening_a_file_fits_the_view(editor, tmp_path):
    editor.page.fill("#workflow-name", "my experiment")
    editor.page.click("#btn-new")
    editor.page.wait_for_function("document.getElementById('workflow-name').value === 'workflow'")
    editor.page.fill("#workflow-name", "my experiment")
    editor.page.click("#btn-default")
    editor.page.wait_for_function("document.getElementById('workflow-name').value === 'default'")
    workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    workflow["extra"]["ds"] = {"scale": 3.0, "offset": [-5000, -5000]}  # a view made on another screen
    path = tmp_path / "far away.json"
    path.write_text(json.dumps(workflow))
    with editor.page.expect_file_chooser() as chooser:
        editor.page.click("#btn-open")
    chooser.value.set_files(str(path))
    editor.page.wait_for_function("document.getElementById('workflow-name').value === 'far away'")
    assert editor.eval(nodes_inside_view_js())


def test_history_entries_show_status_duration_outputs_thumbnail_and_prompt(editor, editor_server):
    editor.eval("app.loadDefaultWorkflow()")
    sampler = editor.node_ids_by_type("KSampler")[0]
    latent = editor.node_ids_by_type("EmptySD3LatentImage")[0]
    for node_id, name, value in [(sampler, "steps", 1), (latent, "width", 32), (latent, "height", 32)]:
        set_widget(editor, node_id, name, value)
    prompt_text = editor.eval("app.graph._nodes.filter((n) => n.type === 'CLIPTextEncode')"
                              ".sort((a, b) => a.id - b.id)[0].widgets[0].value")
    finished_before = set(editor_server.get_json("/history"))
    editor.page.click("#btn-queue")
    deadline = time.monotonic() + 120
    while not (new := set(editor_server.get_json("/history")) - finished_before):  # the click's prompt
        assert time.monotonic() < deadline, "the queued prompt did not finish"
        time.sleep(0.05)
    editor.page.click('.tab-button[data-panel="queue-panel"]')
    editor.page.click("#queue-panel .queue-refresh")
    row = editor.page.wait_for_selector(f'#queue-panel .queue-row.history.success[data-prompt-id="{new.pop()}"]')
    label = row.query_selector(".queue-label").text_content()
    assert " · success · " in label and label.endswith(" · 1 output")
    assert float(label.split(" · ")[2].removesuffix(" s")) >= 0
    assert "view?filename=plexus-sd3-demo_" in row.query_selector("img.history-thumbnail").get_attribute("src")
    assert row.query_selector(".history-text").get_attribute("title") == prompt_text.strip()
    editor.page.wait_for_function("document.querySelector('img.history-thumbnail').naturalWidth > 0")


STALE_RENDER_JS = """async () => {
  const panel = app.queuePanel;
  await panel.refresh(); // whatever the page started with has settled
  const historyCalls = [];
  const job = (number) => ({prompt: [number, `p${number}`, {}, {}, []], outputs: {},
                            status: {status_str: "success", completed: true, messages: []}});
  app.api.getQueue = async () => ({queue_running: [], queue_pending: []});
  app.api.getHistory = () => new Promise((resolve) => { historyCalls.push(resolve); });
  const first = panel.refresh(); // a render in flight: its history predates the job below
  await new Promise((resolve) => setTimeout(resolve, 0));
  const second = panel.refresh(); // asked for after the job finished
  historyCalls[0]({p1: job(1)});
  await first;
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (historyCalls.length > 1) historyCalls[1]({p1: job(1), p2: job(2)});
  await second;
  const labels = [...document.querySelectorAll("#queue-panel .queue-row.history .queue-label")].map((l) => l.textContent);
  return {historyCalls: historyCalls.length, labels};
}"""


def test_a_refresh_asked_for_during_a_render_shows_newer_data(editor):
    """The panel refreshes on every status and job end; a refresh asked for while a render is in flight
    (whose data predates a job that just finished) renders once more instead of sharing the stale one.
    CI once showed the previous job at the top of the history, because of that sharing."""
    found = editor.eval(STALE_RENDER_JS)
    assert found["historyCalls"] == 2
    assert [label.split(" · ")[0] for label in found["labels"]] == ["#2", "#1"]


SLOT_STATE_JS = """([id, name]) => {
  const node = app.graph.getNodeById(id);
  const slot = node.inputs.find((s) => s.name === name);
  return {label: slot.renderingLabel, widgetSlot: slot.isWidgetInputSlot, linked: slot.link != null,
          widgetHidden: node.widgets.find((w) => w.name === name).hidden === true};
}"""


def test_converted_inputs_keep_their_label_and_look_alike(editor):
    by_menu, by_link, loaded = editor.eval(BUILD_GRAPH_JS, [["EmptyImage", {}], ["EmptyImage", {}], ["EmptyImage", {}]])
    editor.eval(f"""() => {{
      app.convertWidgetToInput(app.graph.getNodeById({by_menu}), 'width');
      for (const id of [{by_menu}, {by_link}]) {{
        const primitive = app.addNode("PrimitiveNode", [-300, id * 200]);
        primitive.connect(0, app.graph.getNodeById(id), "width");  // by_link: onto the widget's socket
      }}
    }}""")
    # A ComfyUI workflow links a widget socket (`widget: {name}`), with no record of a conversion.
    workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    for node in workflow["nodes"]:
        if node["id"] == loaded:
            node["properties"].pop("convertedWidgets", None)
    linked_slot = next(i for n in workflow["nodes"] if n["id"] == by_link for i in n["inputs"] if i["name"] == "width")
    loaded_node = next(n for n in workflow["nodes"] if n["id"] == loaded)
    loaded_slot = next(i for i in loaded_node["inputs"] if i["name"] == "width")
    loaded_slot.update(link=linked_slot["link"] + 1000, widget={"name": "width"})
    origin = next(link for link in workflow["links"] if link[0] == linked_slot["link"])
    workflow["links"].append([linked_slot["link"] + 1000, origin[1], 0, loaded, loaded_node["inputs"].index(loaded_slot), "INT"])
    editor.load_workflow(workflow)
    expected = {"label": "width", "widgetSlot": False, "linked": True, "widgetHidden": True}
    for node_id in (by_menu, by_link, loaded):
        assert editor.eval(SLOT_STATE_JS, [node_id, "width"]) == expected, node_id
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert all(prompt[str(n)]["inputs"]["width"] == 512 for n in (by_menu, by_link, loaded))
    editor.screenshot("first-hour-converted-inputs")


def test_markdown_note_renders_markdown_and_never_html(editor):
    text = ("# Read me\n\nSome **bold** and *soft* words, `code`, a [link](https://example.com) and "
            "[bad](javascript:window.__pwned=1).\n\n- one\n- two\n\n<img src=x onerror=\"window.__pwned=1\">"
            "<script>window.__pwned=1</script>")
    (note,) = editor.eval(BUILD_GRAPH_JS, [["MarkdownNote", {"text": text}]])
    editor.page.wait_for_selector(".plexus-markdown h1")
    preview = editor.page.locator(".plexus-markdown")
    assert preview.locator("h1").text_content() == "Read me"
    assert preview.locator("strong").text_content() == "bold" and preview.locator("em").text_content() == "soft"
    assert preview.locator("li").all_text_contents() == ["one", "two"]
    assert preview.locator("a").count() == 1 and preview.locator("a").get_attribute("href") == "https://example.com"
    assert preview.locator("img, script").count() == 0
    assert "<img src=x" in preview.text_content() and "javascript:" in preview.text_content()
    assert editor.eval("window.__pwned === undefined")
    preview.dblclick()  # edit the source, then back to the rendering
    editor.page.fill(".plexus-markdown-note textarea", "## Changed")
    editor.page.keyboard.press("Escape")
    editor.page.wait_for_selector(".plexus-markdown h2")
    assert editor.eval(f"app.graph.getNodeById({note}).widgets[0].value") == "## Changed"
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert str(note) not in prompt  # a note never reaches the server
