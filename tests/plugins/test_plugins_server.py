"""Custom-node packs through the real server: pack status, web extensions, plugin routes, node
schemas, websocket messages from plugins, and per-client routing of progress events."""
from __future__ import annotations

import itertools
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.server import collect_until, prompt_done, ws_connect


def test_custom_nodes_route_lists_every_pack_with_its_status(plugin_server):
    packs = {p["name"]: p for p in plugin_server.get_json("/custom_nodes")}
    for name in ("lazy_switch_pack", "list_pack", "loop_pack", "async_pack", "progress_pack", "validation_pack",
                 "v3_entry_pack", "clash_pack", "example_pack"):
        assert packs[name]["loaded"] is True and packs[name]["status"] == "loaded", packs[name]["error"]
        assert packs[name]["error"] is None and packs[name]["seconds"] >= 0
    for name, needle in (("broken_import_pack", "ModuleNotFoundError"), ("syntax_error_pack", "SyntaxError")):
        assert packs[name]["loaded"] is False and packs[name]["status"] == "failed"
        assert "Traceback" in packs[name]["error"] and needle in packs[name]["error"]
        assert packs[name]["nodes"] == []
    assert "ignored_pack" not in packs and "ignored_pack.disabled" not in packs
    assert packs["clash_pack"]["clashes"] == ["SaveImage"] and packs["clash_pack"]["nodes"] == ["TestClashPackNode"]
    assert packs["list_pack"]["path"].endswith("list_pack")
    assert set(packs["example_pack"]["nodes"]) == {"ExampleGradient", "ExampleSwitch", "ExampleSplitWords",
                                                   "ExampleJoinWords"}
    assert packs["example_pack"]["kind"] == "plexus" and packs["v3_entry_pack"]["kind"] == "v3"


def test_import_times_are_printed_sorted(plugin_server):
    log = plugin_server.log()
    block = log[log.index("Import times for custom nodes:"):].splitlines()[1:]
    lines = list(itertools.takewhile(lambda line: "seconds" in line, block))  # the whole block, every pack
    times = [float(line.split("seconds")[0]) for line in lines]
    assert len(times) >= 11 and times == sorted(times)
    assert any("(IMPORT FAILED)" in line and "syntax_error_pack" in line for line in lines)


def test_object_info_shows_plugin_nodes_and_keeps_builtins(plugin_server):
    info = plugin_server.get_json("/object_info")
    switch = info["TestLazySwitch"]
    assert switch["display_name"] == "Lazy Switch (test)"
    assert switch["python_module"] == "custom_nodes.lazy_switch_pack"
    assert switch["input"]["required"]["on_true"] == ["*", {"lazy": True}]
    assert info["TestRange"]["output_is_list"] == [True]
    assert info["ExampleSplitWords"]["output_is_list"] == [True, False]
    assert info["SaveImage"]["python_module"] == "nodes"  # the clash did not replace the built-in
    assert "TestNoFunction" not in info and "TestSyntaxBroken" not in info


def test_web_extensions_are_listed_and_served(plugin_server):
    scripts = plugin_server.get_json("/extensions")
    assert "/extensions/progress_pack/progress_widget.js" in scripts
    assert "/extensions/example_pack/example_pack.js" in scripts
    served = plugin_server.request("GET", "/extensions/progress_pack/progress_widget.js")
    assert served.status == 200 and b"registerExtension" in served.body
    assert "javascript" in served.headers.get("Content-Type", "")
    assert plugin_server.request("GET", "/extensions/progress_pack/../__init__.py").status in (403, 404)
    assert plugin_server.request("GET", "/extensions/broken_import_pack/x.js").status == 404


def test_plugin_routes_are_served(plugin_server):
    hello = plugin_server.get_json("/progress_pack/hello")
    assert hello["hello"] == "world" and hello["prestartup"] is True  # prestartup_script ran first
    assert hello["output_directory"] == str((plugin_server.base_dir / "output").resolve())
    assert plugin_server.get_json("/api/progress_pack/hello")["hello"] == "world"
    info = plugin_server.get_json("/example_pack/info")
    assert info["pack"] == "example_pack" and "ExampleGradient" in info["nodes"]


def _drain(ws, seconds: float = 0.3) -> list:
    messages = []
    deadline = time.monotonic() + seconds
    while True:
        try:
            raw = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            return messages
        messages.append(json.loads(raw) if isinstance(raw, str) else raw)


def test_two_clients_each_receive_only_their_own_progress(plugin_server):
    clients = {name: uuid.uuid4().hex for name in ("a", "b")}
    sockets = {name: ws_connect(plugin_server, cid) for name, cid in clients.items()}
    try:
        steps = {"a": 6, "b": 4}
        prompt_ids = {}
        for name in ("a", "b"):
            prompt = {"1": {"class_type": "TestCountWithProgress",
                            "inputs": {"steps": steps[name], "delay": 0.03, "size": 64}}}
            response = plugin_server.post_json("/prompt", {"prompt": prompt, "client_id": clients[name]})
            assert response.status == 200, response.body
            prompt_ids[name] = response.json()["prompt_id"]
        received = {name: collect_until(sockets[name], prompt_done(prompt_ids[name]), timeout=60) for name in clients}
        for name in clients:
            received[name] += _drain(sockets[name])
        for name, other in (("a", "b"), ("b", "a")):
            texts = [m for m in received[name] if isinstance(m, dict)]
            progress = [m["data"] for m in texts if m["type"] == "progress"]
            assert [p["value"] for p in progress] == list(range(1, steps[name] + 1))
            assert {p["prompt_id"] for p in progress} == {prompt_ids[name]}
            assert all(m["data"].get("prompt_id") != prompt_ids[other] for m in texts if isinstance(m.get("data"), dict))
            # the pack's own message, sent to PromptServer.instance.client_id while its prompt ran
            done = [m["data"] for m in texts if m["type"] == "progress_pack.done"]
            assert done == [{"steps": steps[name]}]
    finally:
        for ws in sockets.values():
            ws.close()


def test_interrupt_reaches_a_plugin_node_through_model_management(plugin_server):
    client = uuid.uuid4().hex
    ws = ws_connect(plugin_server, client)
    try:
        prompt = {"1": {"class_type": "TestCountWithProgress", "inputs": {"steps": 200, "delay": 0.02, "size": 64}}}
        prompt_id = plugin_server.post_json("/prompt", {"prompt": prompt, "client_id": client}).json()["prompt_id"]
        collect_until(ws, lambda m: isinstance(m, dict) and m["type"] == "progress")
        assert plugin_server.post_json("/interrupt", {}).status == 200
        messages = collect_until(ws, prompt_done(prompt_id), timeout=30)
        assert any(isinstance(m, dict) and m["type"] == "execution_interrupted" for m in messages)
    finally:
        ws.close()


def in_browser_thread(check):
    """Run ``check(browser)`` with a Chromium driven from its own thread: the sync Playwright
    API leaves an event loop running in the thread that started it, which would break later
    tests calling asyncio.run() on the main thread."""
    from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (make install-dev installs it)")

    def work():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                return check(browser)
            finally:
                browser.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


@pytest.mark.browser
def test_example_pack_web_extension_registers_in_the_editor(plugin_server):
    """The example pack's script is imported by the real editor and its hooks run."""
    from tests.fixtures.browser import open_editor

    def check(browser):
        editor = open_editor(browser, plugin_server)
        try:
            assert "plexus.example_pack" in editor.eval("window.app.extensions.extensions.map(e => e.name)")
            editor.page.wait_for_function("window.plexusExamplePack !== undefined", timeout=10000)
            assert editor.eval("window.plexusExamplePack.pack") == "example_pack"  # setup() called the route
            colour = "window.app.addNode(%r).renderingColor"
            assert editor.eval(colour % "ExampleGradient") == "#2d4a3e"  # set by beforeRegisterNodeDef
            assert editor.eval(colour % "TestRange") != "#2d4a3e"
            assert editor.console_errors == []  # every pack script (ComfyUI-style too) imported cleanly
        finally:
            editor.page.context.close()

    in_browser_thread(check)


@pytest.mark.browser
def test_comfyui_style_extension_imports_app_and_api_and_hears_its_pack(plugin_server):
    """A V1 pack's script doing ``import { app } from "../../scripts/app.js"`` loads unmodified,
    and the pack's own websocket message reaches its ``api`` listener."""
    from tests.fixtures.browser import open_editor

    assert b"/editor/compat/app.js" in plugin_server.request("GET", "/scripts/app.js").body

    def check(browser):
        editor = open_editor(browser, plugin_server)
        try:
            editor.page.wait_for_function("window.progressPackExtension === 'loaded'", timeout=10000)
            assert editor.eval("window.app.addNode('TestCountWithProgress').renderingColor") == "#335"
            client_id = editor.eval("window.app.api.clientId")
            prompt = {"1": {"class_type": "TestCountWithProgress", "inputs": {"steps": 2, "delay": 0.0, "size": 64}}}
            response = plugin_server.post_json("/prompt", {"prompt": prompt, "client_id": client_id})
            assert response.status == 200, response.body
            editor.page.wait_for_function("window.progressPackMessages.length > 0", timeout=20000)
            assert editor.eval("window.progressPackMessages") == [{"steps": 2}]
            assert not [e for e in editor.console_errors if "scripts/" in e or "progress_widget" in e]
        finally:
            editor.page.context.close()

    in_browser_thread(check)
