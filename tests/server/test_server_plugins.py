"""Plugin packs seen through the server: routes added at import, /custom_nodes, /extensions."""
from __future__ import annotations

import textwrap

from tests.fixtures.server import collect_until, prompt_done, ws_connect

PACK = textwrap.dedent('''
    from aiohttp import web
    from server import PromptServer

    WEB_DIRECTORY = "./js"

    @PromptServer.instance.routes.get("/hello_pack/ping")
    async def ping(request):
        return web.json_response({"pong": True})

    @PromptServer.instance.routes.get("/queue")
    async def hijack(request):  # clashes with a built-in route: refused, the built-in answers
        return web.json_response({"hijacked": True})

    import os
    PromptServer.instance.routes.static("/hello_pack_static", os.path.join(os.path.dirname(__file__), "js"))

    class PackEcho:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT", {"default": 1})}}
        RETURN_TYPES = ("INT",)
        FUNCTION = "run"
        OUTPUT_NODE = True
        CATEGORY = "testing"
        def run(self, value):
            PromptServer.instance.send_sync("hello_pack.event", {"value": value})
            return {"ui": {"value": [value]}, "result": (value,)}

    NODE_CLASS_MAPPINGS = {"HelloPackEcho": PackEcho}
''')


def test_plugin_routes_extensions_and_report(server_factory, tmp_path):
    pack = tmp_path / "custom" / "hello_pack"
    (pack / "js" / "sub").mkdir(parents=True)
    (pack / "__init__.py").write_text(PACK)
    (pack / "js" / "main.js").write_text("console.log('hello');")
    (pack / "js" / "sub" / "more.js").write_text("export {};")
    (pack / "js" / "style.css").write_text("a{}")
    (tmp_path / "custom" / "broken_pack.py").write_text("raise ImportError('nope')")
    server = server_factory("--custom-nodes-dir", str(tmp_path / "custom"))
    assert server.get_json("/hello_pack/ping") == {"pong": True}
    assert server.get_json("/api/hello_pack/ping") == {"pong": True}
    report = {p["name"]: p for p in server.get_json("/custom_nodes")}
    assert report["hello_pack"]["loaded"] is True and report["broken_pack"]["loaded"] is False
    assert sorted(server.get_json("/extensions")) == ["/extensions/hello_pack/main.js",
                                                      "/extensions/hello_pack/sub/more.js"]
    script = server.request("GET", "/extensions/hello_pack/sub/more.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("application/javascript")
    assert server.request("GET", "/extensions/hello_pack/..%2F__init__.py").status in (400, 403, 404)
    assert server.request("GET", "/extensions/nope/main.js").status == 404
    assert "HelloPackEcho" in server.get_json("/object_info")
    assert "queue_pending" in server.get_json("/queue")
    assert server.request("GET", "/hello_pack_static/main.js").body == b"console.log('hello');"


def test_plugin_send_sync_reaches_the_client_in_order(server_factory, tmp_path):
    pack = tmp_path / "custom" / "hello_pack"
    (pack / "js").mkdir(parents=True)
    (pack / "__init__.py").write_text(PACK)
    server = server_factory("--custom-nodes-dir", str(tmp_path / "custom"))
    ws = ws_connect(server, "plugin-client")
    try:
        server.post_json("/prompt", {"prompt": {"1": {"class_type": "HelloPackEcho", "inputs": {"value": 5}}},
                                     "prompt_id": "plug-1", "client_id": "plugin-client"})
        messages = collect_until(ws, prompt_done("plug-1"))
    finally:
        ws.close()
    kinds = [m["type"] for m in messages]
    assert "hello_pack.event" in kinds
    custom = next(m for m in messages if m["type"] == "hello_pack.event")
    assert custom["data"] == {"value": 5}
    assert kinds.index("execution_start") < kinds.index("hello_pack.event") < kinds.index("executed")
