"""ComfyUI's official frontend (``comfyui-frontend-package``, pinned in requirements-frontend.txt)
served by Plexus with ``--front-end comfyui``, driven in headless Chromium.

One server and one page for the whole module (the frontend takes seconds to boot on 2 cores);
the tests run in file order and build on each other: boot, run the SD3 workflow, find the job in
the panels, a validation error, a caption, templates, the node library.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.fixtures.browser import VIEWPORT, _demo_model_flags, launch_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RETURNING_USER_SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False}
# What the frontend fetches from the internet on its own (there is no internet here): the size of
# the default graph's models, from their download pages. Each must fail without a visible error.
INTERNET_HOSTS = {"huggingface.co", "civitai.com", "api.comfy.org"}
NETWORK_FAILURE = "Failed to load resource: net::ERR_"


class FrontendSession:
    def __init__(self, page, server) -> None:
        self.page = page
        self.server = server
        self.console_errors: list[str] = []
        self.failed_local: list[str] = []
        self.external: list[str] = []
        self.viewed: list[str] = []  # /view URLs the page loaded (images shown)
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        page.on("request", self._track)
        page.on("response", self._track_view)
        page.on("response", lambda r: self.failed_local.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.url.startswith(server.url) else None)

    def _track_view(self, response) -> None:
        if "/view?" in response.url and response.status == 200:
            self.viewed.append(response.url)

    def _track(self, request) -> None:
        if not request.url.startswith((self.server.url, "data:", "blob:")):
            self.external.append(request.url)

    def eval(self, script: str, arg=None):
        return self.page.evaluate(script, arg)

    def own_errors(self) -> list[str]:
        """Console errors, less one 'Failed to load resource: net::ERR_...' per internet request."""
        budget = len(self.external)
        errors = []
        for text in self.console_errors:
            if text.startswith(NETWORK_FAILURE) and budget:
                budget -= 1
                continue
            errors.append(text)
        return errors

    def toasts(self) -> list[str]:
        """The texts of the toasts on screen (an empty live region is always there)."""
        return self.eval("""[...document.querySelectorAll('[role=alert]')].map((t) => t.innerText.trim())
            .filter((text) => text && !/^Notification\\s*\\[\\]$/.test(text))""")

    def wait_for(self, predicate, timeout: float = 60.0, message: str = "condition"):
        """Poll ``predicate``; the page's events are delivered while waiting (no bare sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{message} not met within {timeout}s")

    def run_current_workflow(self) -> None:
        self.page.get_by_role("button", name="Run", exact=True).click()


# A pack node that sends Plexus's own messages the way the server does: a cluster's
# execution_restarted and a node warning.
PROBE_PACK = '''
from server import PromptServer


class FrontendMessageProbe:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing/frontend"
    DESCRIPTION = "Sends execution_restarted and a warning."
    OUTPUT_NODE = True

    def run(self, value, unique_id):
        server = PromptServer.instance
        prompt_id = server.last_prompt_id
        server.send_sync("execution_restarted", {"prompt_id": prompt_id, "attempt": 2, "reason": "probe"},
                         server.client_id)
        server.send_sync("warning", {"node": unique_id, "message": "probe warning", "prompt_id": prompt_id},
                         server.client_id)
        return {"ui": {"text": [str(value)]}, "result": (value,)}


NODE_CLASS_MAPPINGS = {"FrontendMessageProbe": FrontendMessageProbe}
'''


@pytest.fixture(scope="module")
def frontend_server(request, tmp_path_factory):
    base_dir = tmp_path_factory.mktemp("official-frontend")
    (base_dir / "custom_nodes").mkdir()
    (base_dir / "custom_nodes" / "frontend_probe.py").write_text(PROBE_PACK)
    server = launch_server(base_dir, [*_demo_model_flags(request, base_dir), "--front-end", "comfyui"])
    server.post_json("/api/settings", RETURNING_USER_SETTINGS)
    from PIL import Image

    server.input_dir.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (200, 40, 40)).save(server.input_dir / "red_square.png")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def frontend(chromium_browser, frontend_server):
    context = chromium_browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    session = FrontendSession(page, frontend_server)
    page.goto(frontend_server.url + "/")
    page.wait_for_function("window.app?.graph?.nodes?.length > 0 && window.LiteGraph?.registered_node_types",
                           timeout=90000)
    page.wait_for_timeout(1500)  # the start-up fetches settle (model metadata, templates, jobs)
    yield session
    try:
        page.screenshot(path=str(ROOT / "tests" / "artifacts" / "official-frontend-end.png"))
    finally:
        context.close()




def sd3_workflow(steps: int = 2, size: int = 128) -> dict:
    """The shipped workflow, with fewer steps and a smaller image (CI has 2 cores)."""
    workflow = json.loads((ROOT / "workflows" / "sd3_text_to_image.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "KSampler":
            node["widgets_values"][2] = steps
        if node["type"] == "EmptySD3LatentImage":
            node["widgets_values"][0:2] = [size, size]
    return workflow


def test_boots_quietly_as_a_returning_user(frontend):
    assert frontend.own_errors() == [], frontend.console_errors
    assert frontend.failed_local == []
    hosts = {urlparse(url).hostname for url in frontend.external}
    assert hosts <= INTERNET_HOSTS, frontend.external
    assert not frontend.page.get_by_role("dialog").filter(has_text="Templates").is_visible()
    assert frontend.toasts() == []


def test_runs_the_sd3_workflow_and_shows_the_image(frontend, frontend_server):
    frontend.eval("(w) => app.loadGraphData(w)", sd3_workflow())
    save_id = frontend.eval("app.graph.nodes.find((n) => n.type === 'SaveImage').id")
    frontend.run_current_workflow()
    image = frontend.wait_for(lambda: frontend.eval("(id) => app.nodeOutputs?.[String(id)]?.images?.[0]", save_id),
                     timeout=180, message="the SaveImage output")
    assert (frontend_server.output_dir / image["subfolder"] / image["filename"]).is_file()
    frontend.wait_for(lambda: any(f"filename={image['filename']}" in url for url in frontend.viewed), timeout=30,
             message="the image loaded by the page")
    frontend.page.screenshot(path=str(ROOT / "tests" / "artifacts" / "official-frontend-sd3.png"))
    frontend.image_name = image["filename"]


def test_job_queue_and_media_assets_list_the_job(frontend):
    page = frontend.page
    page.get_by_role("button", name="Expand job queue").click()
    page.get_by_text(frontend.image_name).first.wait_for(timeout=20000)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Expand job queue").click()  # closes it
    page.get_by_role("button", name="Assets (a)").click()
    page.get_by_text(Path(frontend.image_name).stem).first.wait_for(timeout=20000)
    page.get_by_role("button", name="Assets (a)").click()
    assert not any("Jobs API" in e for e in frontend.console_errors)


def test_a_validation_error_marks_the_node_without_a_logs_toast(frontend):
    loader_id = frontend.eval("""() => {
        const node = app.graph.nodes.find((n) => n.type === 'CheckpointLoaderSimple');
        node.widgets.find((w) => w.name === 'ckpt_name').value = 'no-such-model.safetensors';
        return node.id; }""")
    frontend.run_current_workflow()
    frontend.wait_for(lambda: frontend.eval("(id) => app.graph.getNodeById(id).has_errors", loader_id),
             timeout=30, message="the loader marked as failing")
    frontend.page.wait_for_timeout(500)
    assert not any("log" in toast.lower() for toast in frontend.toasts()), frontend.toasts()
    assert frontend.failed_local == [] or all("/prompt" in f for f in frontend.failed_local)


CAPTION_PROMPT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "red_square.png"}},
    "2": {"class_type": "VLMLoader", "inputs": {"vlm_name": "tiny-llava"}},
    "3": {"class_type": "VLMCaption", "inputs": {"vlm": ["2", 0], "image": ["1", 0], "prompt": "Describe it.",
                                                 "max_new_tokens": 6, "temperature": 0.0, "top_p": 1.0, "seed": 0}},
    "4": {"class_type": "PreviewText", "inputs": {"text": ["3", 0]}},
    "5": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
}


# Records what the VLMCaption node shows while tokens stream (after the page's own handlers ran).
# What the frontend's own listeners get for each streamed piece (it shows `detail.text` as the node's
# text preview): with plexus_extras.js, the text so far rather than the latest piece alone. Read from
# the event itself, not from the preview widget a few milliseconds later: on a quiet machine the tiny
# model finishes its caption, and the frontend clears the preview, within that time.
WATCH_STREAM_JS = """() => {
  window.streamSeen = [];
  const api = window.comfyAPI.api.api;
  api.addEventListener('progress_text', ({detail}) => window.streamSeen.push(String(detail.text)));
}"""


def test_a_caption_workflow_shows_its_text_on_the_node(frontend, frontend_server):
    frontend.eval("(p) => app.loadApiJson(p, 'caption.json')", CAPTION_PROMPT)
    frontend.eval(WATCH_STREAM_JS)
    frontend.page.wait_for_timeout(500)
    frontend.run_current_workflow()
    shown = frontend.wait_for(lambda: frontend.eval("""() => {
        const node = app.graph.nodes.find((n) => n.type === 'PreviewText');
        return node?.widgets?.find((w) => w.name === 'plexus_text')?.value; }"""), timeout=120,
                     message="the caption on the PreviewText node")
    history = frontend_server.get_json("/api/history")
    captions = [entry["outputs"]["4"]["text"] for entry in history.values() if "4" in entry["outputs"]]
    assert captions and shown == "\n\n".join(captions[-1])
    preview_any = frontend.eval("""() => app.graph.nodes.find((n) => n.type === 'PreviewAny')
        .widgets.filter((w) => w.name.startsWith('preview')).map((w) => w.value)""")
    assert any(isinstance(value, str) and captions[-1][0] in value for value in preview_any), preview_any
    streamed = frontend.eval("window.streamSeen")
    # The pieces add up (the frontend alone would show only the latest piece), one event per piece.
    assert len(streamed) >= 2 and all(captions[-1][0].startswith(seen) for seen in streamed), streamed
    assert all(later.startswith(earlier) for earlier, later in zip(streamed, streamed[1:])), streamed
    assert len(streamed[-1]) > len(streamed[0]), streamed
    frontend.page.screenshot(path=str(ROOT / "tests" / "artifacts" / "official-frontend-caption.png"))


# What VLMCaption shows for each model chosen on its loader (plexus_extras.js + familyoptions.js).
FAMILY_STATES_JS = """(models) => {
  const caption = app.graph.nodes.find((n) => n.type === 'VLMCaption');
  const loader = app.graph.nodes.find((n) => n.type === 'VLMLoader');
  app.canvas.ds.offset = [0, 0];
  app.canvas.ds.scale = 1;
  loader.pos = [60, 120];
  caption.pos = [420, 120];
  const states = {};
  for (const model of models) {
    loader.widgets.find((w) => w.name === 'vlm_name').value = model;
    app.canvas.draw(true, true);
    const video = caption.inputs.find((s) => s.name === 'video');
    states[model] = { hidden: caption.widgets.filter((w) => w.hidden).map((w) => w.name),
                      video: video.label ?? video.name };
  }
  return states;
}"""


def test_family_specific_inputs_follow_the_loaders_model(frontend):
    frontend.eval("(p) => app.loadApiJson(p, 'family.json')",
                  {"2": CAPTION_PROMPT["2"], "3": {**CAPTION_PROMPT["3"], "inputs": {
                      key: value for key, value in CAPTION_PROMPT["3"]["inputs"].items() if key != "image"}}})
    frontend.page.wait_for_timeout(300)
    states = frontend.eval(FAMILY_STATES_JS, ["tiny-llava", "tiny-qwen2.5-vl", "tiny-fuyu"])
    assert states["tiny-llava"] == {"hidden": ["min_pixels", "max_pixels"], "video": "video (not used by llava)"}
    assert states["tiny-qwen2.5-vl"] == {"hidden": [], "video": "video"}
    assert states["tiny-fuyu"] == {"hidden": ["min_pixels", "max_pixels"], "video": "video (not used by fuyu)"}
    frontend.page.screenshot(path=str(ROOT / "tests" / "artifacts" / "official-frontend-family-options.png"))


def test_plexus_messages_are_known_to_the_frontend(frontend):
    frontend.eval("(p) => app.loadApiJson(p, 'probe.json')",
                  {"1": {"class_type": "FrontendMessageProbe", "inputs": {"value": 3}}})
    frontend.page.wait_for_timeout(300)
    frontend.run_current_workflow()
    frontend.wait_for(lambda: any("probe warning" in toast for toast in frontend.toasts()), timeout=30,
                      message="the node warning as a toast")
    assert not any("Unknown message type" in error for error in frontend.console_errors), frontend.console_errors


def test_templates_dialog_opens(frontend, frontend_server):
    from web.routes.templates import installed_template_dirs

    frontend.page.get_by_role("button", name="Templates").click()
    dialog = frontend.page.get_by_role("dialog").filter(has_text="Templates")
    dialog.wait_for(timeout=20000)
    if installed_template_dirs():
        index = frontend_server.get_json("/templates/index.json")
        first_title = index[0]["templates"][0]["title"]
        dialog.get_by_text(first_title).first.wait_for(timeout=20000)
    frontend.page.keyboard.press("Escape")


def test_model_library_lists_the_demo_checkpoint(frontend):
    page = frontend.page
    page.get_by_role("button", name="Model Library (m)").click()
    page.get_by_text("checkpoints", exact=False).first.click()
    page.get_by_text("plexus-demo-sd3-tiny-RANDOM", exact=False).first.wait_for(timeout=20000)
    page.get_by_role("button", name="Model Library (m)").click()


def test_node_library_lists_every_plexus_node_with_category_and_description(frontend, frontend_server):
    object_info = frontend_server.get_json("/object_info")
    library = frontend.eval("""() => Object.fromEntries(Object.entries(LiteGraph.registered_node_types)
        .map(([name, type]) => [name, {category: type.category ?? type.nodeData?.category,
                                       description: type.nodeData?.description ?? type.description}]))""")
    for name, info in object_info.items():
        assert name in library, name
        assert library[name]["category"] == info["category"], name
        assert library[name]["description"] == info.get("description", ""), name
    frontend.page.get_by_role("button", name="Node Library (n)").click()
    tree = frontend.page.locator(".p-tree, [role=tree]").first
    tree.wait_for(timeout=20000)
    # "api node" (SaveImageWebsocket's ComfyUI category) is the frontend's partner-node section,
    # not a folder of its tree; those nodes are registered above like every other.
    # Pack nodes (the probe) are listed in the frontend's custom-node section instead.
    builtin = [info for info in object_info.values() if not info.get("python_module", "").startswith("custom_nodes")]
    for category in {info["category"].split("/")[0] for info in builtin} - {"api node"}:
        assert tree.get_by_text(category, exact=True).count() >= 1, category


def _grown_batch_saved_advanced() -> dict:
    """Editor JSON as frontend 1.58.1 saves it: two images into BatchImagesNode's grown sockets,
    then SaveImageAdvanced with positional widgets_values (prefix, format, then its own widgets)."""
    def image(node_id: int, color: int) -> dict:
        return {"id": node_id, "type": "EmptyImage", "pos": [0, 200 * node_id], "size": [300, 130], "mode": 0,
                "order": node_id - 1, "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [node_id]}],
                "properties": {}, "widgets_values": [16, 16, 1, color]}
    return {"last_node_id": 4, "last_link_id": 3, "version": 0.4, "groups": [], "config": {}, "extra": {},
            "links": [[1, 1, 0, 3, 0, "IMAGE"], [2, 2, 0, 3, 1, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"]],
            "nodes": [image(1, 0xFF0000), image(2, 0x0000FF),
                      {"id": 3, "type": "BatchImagesNode", "pos": [400, 0], "size": [250, 100], "mode": 0, "order": 2,
                       "inputs": [{"name": "images.image0", "type": "IMAGE", "link": 1},
                                  {"name": "images.image1", "type": "IMAGE", "link": 2}],
                       "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [3]}], "properties": {},
                       "widgets_values": []},
                      {"id": 4, "type": "SaveImageAdvanced", "pos": [700, 0], "size": [300, 200], "mode": 0,
                       "order": 3, "inputs": [{"name": "images", "type": "IMAGE", "link": 3}],
                       "outputs": [{"name": "images", "type": "IMAGE", "links": []}], "properties": {},
                       "widgets_values": ["official", "png", "16-bit", "sRGB"]}]}


def test_dynamic_combo_and_autogrow_nodes_queue_from_the_official_frontend(frontend, frontend_server):
    frontend.eval("(w) => app.loadGraphData(w)", _grown_batch_saved_advanced())
    frontend.run_current_workflow()
    images = frontend.wait_for(lambda: frontend.eval("app.nodeOutputs?.['4']?.images"), timeout=120,
                               message="the SaveImageAdvanced output")
    assert [image["filename"] for image in images] == ["official_00001.png", "official_00002.png"]
    with open(frontend_server.output_dir / images[0]["filename"], "rb") as png:
        assert png.read(25)[24] == 16  # IHDR bit depth: the "format.bit_depth" widget reached the node
    history = frontend_server.get_json("/history")
    (queued,) = [entry["prompt"][2] for entry in history.values() if "4" in entry["prompt"][2]
                 and entry["prompt"][2]["4"]["class_type"] == "SaveImageAdvanced"]
    assert queued["4"]["inputs"] == {"filename_prefix": "official", "format": "png", "format.bit_depth": "16-bit",
                                     "format.input_color_space": "sRGB", "images": ["3", 0]}
    assert queued["3"]["inputs"] == {"images.image0": ["1", 0], "images.image1": ["2", 0]}


def test_the_session_logged_no_unexplained_error(frontend):
    """Across every step: internet lookups, the rejected prompt of the validation test (a 400 is
    the answer), the preview images the demo models do not have and, without the template media
    packages, template thumbnails are the only failures."""
    from web.routes.templates import installed_template_dirs

    media_installed = any("media" in str(folder) for folder in installed_template_dirs())
    explained = [f for f in frontend.failed_local if f.startswith("400 ") and f.endswith("/api/prompt")
                 or f.startswith("404 ") and "/api/experiment/models/preview/" in f]  # models without images
    if not media_installed:
        explained += [f for f in frontend.failed_local if f.startswith("404 ") and "/templates/" in f]
    unexplained_requests = [f for f in frontend.failed_local if f not in explained]
    assert unexplained_requests == []
    rejected_prompts = len([f for f in explained if f.endswith("/api/prompt")])
    unexplained = [e for e in frontend.own_errors() if not e.startswith("Failed to load resource: the server")
                   and e != "Failed to fetch: 404" and not e.startswith("PromptExecutionError")]
    assert unexplained == []
    # the frontend logs the rejected prompt itself (as it does with ComfyUI), once per rejection
    assert len([e for e in frontend.console_errors if e.startswith("PromptExecutionError")]) <= rejected_prompts
    assert len([e for e in frontend.own_errors() if e.startswith("Failed to load resource")]) <= len(explained)


def test_the_plexus_editor_stays_at_plexus(chromium_browser, frontend_server):
    context = chromium_browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(frontend_server.url + "/plexus/")
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30000)
        assert page.evaluate("Object.keys(app.graph._nodes).length >= 0 && document.title") == "Plexus"
        assert "PreviewText" in page.evaluate("[...document.querySelectorAll('#palette .palette-item')]"
                                              ".map((e) => e.dataset.type)")
        assert errors == []
    finally:
        context.close()
