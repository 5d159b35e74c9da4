"""The HTTP routes of the real server (a subprocess on a free port), each also under /api."""
from __future__ import annotations

import io
import json
import uuid

from PIL import Image

from tests.fixtures.server import collect_until, echo_prompt, prompt_done, slow_prompt, ws_connect


def png_bytes(color=(10, 20, 30), size=(4, 3), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(fields: dict, file_field: str = "image", filename: str = "a.png", data: bytes = b"") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
                 f'Content-Type: image/png\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(server, data: bytes, filename: str = "a.png", route: str = "/upload/image", **fields):
    body, content_type = multipart(fields, filename=filename, data=data)
    return server.request("POST", route, body, {"Content-Type": content_type})


def test_acceptance_standard_client_flow(plexus_server):
    """Connect, POST with our own prompt_id, read until executing null, fetch history and images."""
    server = plexus_server
    ws = ws_connect(server, "acceptance-client")
    try:
        prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 6, "batch_size": 2,
                                                                "color": 0xFF0000}},
                  "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "accept/run"}}}
        answer = server.post_json("/prompt", {"prompt": prompt, "client_id": "acceptance-client",
                                              "prompt_id": "my-own-id-1"})
        assert answer.status == 200, answer.body
        assert answer.json() == {"prompt_id": "my-own-id-1", "number": answer.json()["number"], "node_errors": {}}
        messages = collect_until(ws, prompt_done("my-own-id-1"), timeout=60)
    finally:
        ws.close()
    kinds = [m["type"] for m in messages if isinstance(m, dict) and m.get("data", {}).get("prompt_id") == "my-own-id-1"]
    assert kinds[0] == "execution_start" and kinds[-1] == "executing"
    assert kinds.index("execution_start") < kinds.index("executed") < kinds.index("execution_success")
    history = server.get_json("/history/my-own-id-1")["my-own-id-1"]
    assert history["status"]["completed"] is True and history["status"]["status_str"] == "success"
    assert history["prompt"][1] == "my-own-id-1" and history["prompt"][4] == ["2"]
    images = history["outputs"]["2"]["images"]
    assert len(images) == 2 and all(i["type"] == "output" and i["subfolder"] == "accept" for i in images)
    for image in images:
        result = server.request("GET", f"/view?filename={image['filename']}&subfolder=accept&type=output")
        assert result.status == 200 and result.headers["Content-Type"] == "image/png"
        assert result.body == (server.base_dir / "output" / "accept" / image["filename"]).read_bytes()
        decoded = Image.open(io.BytesIO(result.body))
        assert decoded.size == (8, 6) and decoded.convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_prompt_validation_errors(plexus_server):
    server = plexus_server
    no_prompt = server.post_json("/prompt", {"client_id": "x"})
    assert no_prompt.status == 400 and no_prompt.json()["error"]["type"] == "no_prompt"
    unknown = server.post_json("/prompt", {"prompt": {"1": {"class_type": "NoSuchNode", "inputs": {}}}})
    assert unknown.status == 400 and unknown.json()["error"]["type"] == "invalid_prompt"
    assert server.request("POST", "/prompt", "{not json").status == 400
    missing = server.post_json("/prompt", {"prompt": {"9": {"class_type": "SaveImage", "inputs": {}}}})
    body = missing.json()
    assert missing.status == 400 and body["error"]["type"] == "prompt_outputs_failed_validation"
    error = body["node_errors"]["9"]
    assert error["class_type"] == "SaveImage" and error["dependent_outputs"] == ["9"]
    assert {"type": "required_input_missing", "details": "images"}.items() <= error["errors"][0].items()
    partly = server.post_json("/prompt", {"prompt": {**echo_prompt(3),
                                                     "9": {"class_type": "SaveImage", "inputs": {}}}})
    assert partly.status == 200 and "9" in partly.json()["node_errors"]
    assert server.post_json("/prompt", {"prompt": echo_prompt(), "prompt_id": "../bad id"}).status == 400
    server.wait_idle()


def test_retried_post_with_same_prompt_id_is_not_duplicated(plexus_server):
    server = plexus_server
    first = server.post_json("/prompt", {"prompt": echo_prompt(5), "prompt_id": "retry-1"}).json()
    second = server.post_json("/prompt", {"prompt": echo_prompt(5), "prompt_id": "retry-1"}).json()
    assert first["number"] == second["number"]
    server.wait_idle()
    jobs = server.get_json("/jobs?limit=1000")["jobs"]
    assert [j["id"] for j in jobs].count("retry-1") == 1


def test_queue_number_front_delete_clear_and_interrupt(plexus_server):
    server = plexus_server
    server.wait_idle()
    blocker = server.post_json("/prompt", {"prompt": slow_prompt(30, 300, tag="blocker"), "prompt_id": "blocker"})
    assert blocker.status == 200
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])
    numbers = {}
    for name in ("q1", "q2", "q3"):
        numbers[name] = server.post_json("/prompt", {"prompt": echo_prompt(1), "prompt_id": name}).json()["number"]
    front = server.post_json("/prompt", {"prompt": echo_prompt(1), "prompt_id": "qf", "front": True}).json()
    # front numbers grow more negative with every prompt this server has taken: stay ahead of them
    explicit_number = front["number"] - 1000
    explicit = server.post_json("/prompt", {"prompt": echo_prompt(1), "prompt_id": "qn",
                                            "number": explicit_number}).json()
    assert front["number"] < 0 and explicit["number"] == explicit_number
    queue = server.get_json("/api/queue")
    assert [item[1] for item in queue["queue_running"]] == ["blocker"]
    assert [item[1] for item in queue["queue_pending"]] == ["qn", "qf", "q1", "q2", "q3"]
    item = queue["queue_pending"][2]
    assert item[0] == numbers["q1"] and item[2]["1"]["class_type"] == "PxTestEcho" and item[4] == ["1"]
    assert server.get_json("/prompt") == {"exec_info": {"queue_remaining": 6}}
    assert server.post_json("/queue", {"delete": ["q2", "blocker"]}).status == 200
    assert [i[1] for i in server.get_json("/queue")["queue_pending"]] == ["qn", "qf", "q1", "q3"]
    assert server.post_json("/queue", {"clear": True}).status == 200
    queue = server.get_json("/queue")
    assert queue["queue_pending"] == [] and len(queue["queue_running"]) == 1  # running job untouched
    assert server.post_json("/interrupt", {"prompt_id": "someone-else"}).status == 200
    assert server.get_json("/queue")["queue_running"]
    assert server.post_json("/interrupt", {"prompt_id": "blocker"}).status == 200
    server.wait_idle(10)
    status = server.get_json("/history/blocker")["blocker"]["status"]
    assert status["status_str"] == "error" and status["completed"] is False
    assert status["messages"][-1][0] == "execution_interrupted"


def test_interrupt_without_prompt_id(plexus_server):
    server = plexus_server
    server.post_json("/prompt", {"prompt": slow_prompt(30, 300), "prompt_id": "int-any"})
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])
    assert server.request("POST", "/api/interrupt").status == 200
    server.wait_idle(10)
    assert server.get_json("/history/int-any")["int-any"]["status"]["completed"] is False


def test_history_paging_delete_and_clear(plexus_server):
    server = plexus_server
    ids = [f"h{i}-{uuid.uuid4().hex[:6]}" for i in range(4)]
    for prompt_id in ids:
        server.post_json("/prompt", {"prompt": echo_prompt(7), "prompt_id": prompt_id})
    server.wait_idle()
    history = server.get_json("/history")
    assert list(history)[-4:] == ids
    assert history[ids[0]]["outputs"] == {"1": {"value": [7]}}
    assert list(server.get_json("/history?max_items=2")) == ids[2:]
    total = len(history)
    assert list(server.get_json(f"/api/history?max_items=2&offset={total - 3}")) == ids[1:3]
    assert server.request("GET", "/history?max_items=abc").status == 400
    assert server.post_json("/history", {"delete": [ids[0]]}).status == 200
    assert server.get_json(f"/history/{ids[0]}") == {}
    assert server.post_json("/history", {"clear": True}).status == 200
    assert server.get_json("/history") == {}


def test_jobs_routes(plexus_server):
    server = plexus_server
    server.post_json("/prompt", {"prompt": echo_prompt(1), "prompt_id": "job-ok"})
    server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestFail", "inputs": {"message": "nope"}}},
                                 "prompt_id": "job-bad"})
    server.wait_idle()
    listing = server.get_json("/jobs?status=completed,failed&limit=100")
    statuses = {j["id"]: j["status"] for j in listing["jobs"]}
    assert statuses["job-ok"] == "completed" and statuses["job-bad"] == "failed"
    assert listing["pagination"]["total"] >= 2
    page = server.get_json("/jobs?limit=1&offset=0")
    assert len(page["jobs"]) == 1 and page["pagination"]["has_more"] is True
    bad = server.get_json("/api/jobs/job-bad")
    assert bad["execution_error"]["exception_message"] == "nope" and bad["prompt"]["1"]["class_type"] == "PxTestFail"
    assert server.request("GET", "/jobs/unknown-job").status == 404
    assert server.request("GET", "/jobs?status=bogus").status == 400


def test_object_info_routes(plexus_server):
    server = plexus_server
    info = server.get_json("/object_info")
    for name in ("PrimitiveInt", "SaveImage", "LoadImage", "PxTestEcho"):
        assert name in info
    save = info["SaveImage"]
    for key in ("input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
                "description", "python_module", "category", "output_node"):
        assert key in save
    assert save["output_node"] is True
    assert server.get_json("/api/object_info/PrimitiveInt") == {"PrimitiveInt": info["PrimitiveInt"]}
    assert server.get_json("/object_info/NoSuchNode") == {}


def test_info_routes(plexus_server):
    server = plexus_server
    stats = server.get_json("/system_stats")
    assert {"os", "ram_total", "ram_free", "python_version", "pytorch_version"} <= set(stats["system"])
    assert stats["devices"] and {"name", "type", "vram_total", "vram_free"} <= set(stats["devices"][0])
    features = server.get_json("/features")
    assert features["supports_preview_metadata"] is True and features["max_upload_size"] == 100 * 1024 * 1024
    (server.base_dir / "models" / "embeddings").mkdir(parents=True, exist_ok=True)
    (server.base_dir / "models" / "embeddings" / "my_emb.safetensors").write_bytes(b"x")
    (server.base_dir / "models" / "checkpoints").mkdir(parents=True, exist_ok=True)
    (server.base_dir / "models" / "checkpoints" / "m.safetensors").write_bytes(b"x")
    assert "my_emb" in server.get_json("/embeddings")
    assert "checkpoints" in server.get_json("/models")
    assert server.get_json("/api/models/checkpoints") == ["m.safetensors"]
    assert server.request("GET", "/models/not_a_folder").status == 404
    assert server.get_json("/extensions") == []
    assert server.get_json("/custom_nodes") == [] or isinstance(server.get_json("/custom_nodes"), list)


def test_settings_users_and_userdata(plexus_server):
    server = plexus_server
    assert server.get_json("/settings") == {}
    assert server.post_json("/settings", {"Comfy.A": 1, "Comfy.B": "x"}).status == 200
    assert server.post_json("/settings/Comfy.C", [1, 2]).status == 200
    assert server.get_json("/settings") == {"Comfy.A": 1, "Comfy.B": "x", "Comfy.C": [1, 2]}
    assert server.get_json("/api/settings/Comfy.B") == "x"
    assert server.get_json("/settings/Missing") is None
    assert server.request("POST", "/settings", "{broken").status == 400
    assert server.request("POST", "/users", "{broken").status == 400
    assert server.get_json("/users")["storage"] == "server"
    user_id = server.post_json("/users", {"username": "Ada L"}).json()
    assert user_id == "Ada-L" and server.get_json("/users")["users"] == {"Ada-L": "Ada L"}

    workflow = b'{"nodes": []}'
    created = server.request("POST", "/userdata/workflows%2Fa.json", workflow)
    assert created.status == 200 and created.json() == "workflows/a.json"
    assert server.request("POST", "/userdata/workflows%2Fa.json?overwrite=false", b"{}").status == 409
    assert server.request("GET", "/userdata/workflows%2Fa.json").body == workflow
    assert server.get_json("/userdata?dir=workflows") == ["a.json"]
    info = server.get_json("/userdata?dir=workflows&full_info=true")
    assert info[0]["path"] == "a.json" and info[0]["size"] == len(workflow)
    moved = server.request("POST", "/userdata/workflows%2Fa.json/move/workflows%2Fsub%2Fb.json")
    assert moved.status == 200 and moved.json() == "workflows/sub/b.json"
    assert server.get_json("/userdata?dir=workflows&recurse=true") == ["sub/b.json"]
    assert server.request("DELETE", "/api/userdata/workflows%2Fsub%2Fb.json").status == 204
    assert server.request("GET", "/userdata/workflows%2Fsub%2Fb.json").status == 404
    assert server.request("GET", "/userdata?dir=nowhere").status == 404
    # another user's files are separate
    assert server.request("POST", "/userdata/x.json", b"1", {"Comfy-User": "Ada-L"}).status == 200
    assert server.request("GET", "/userdata/x.json").status == 404
    assert server.request("GET", "/userdata/x.json", headers={"Comfy-User": "nobody"}).status == 403


def test_upload_rename_overwrite_subfolder_and_view(plexus_server):
    server = plexus_server
    red, blue = png_bytes((255, 0, 0)), png_bytes((0, 0, 255))
    first = upload(server, red, "pic.png")
    assert first.status == 200 and first.json() == {"name": "pic.png", "subfolder": "", "type": "input"}
    same = upload(server, red, "pic.png")
    assert same.json()["name"] == "pic.png"  # identical content reuses the file
    clash = upload(server, blue, "pic.png")
    assert clash.json()["name"] == "pic (1).png"
    overwritten = upload(server, blue, "pic.png", overwrite="true")
    assert overwritten.json()["name"] == "pic.png"
    assert (server.base_dir / "input" / "pic.png").read_bytes() == blue
    nested = upload(server, red, "n.png", route="/api/upload/image", subfolder="dir/sub", type="temp")
    assert nested.json() == {"name": "n.png", "subfolder": "dir/sub", "type": "temp"}
    assert (server.base_dir / "temp" / "dir" / "sub" / "n.png").read_bytes() == red
    assert "pic.png" in server.get_json("/object_info/LoadImage")["LoadImage"]["input"]["required"]["image"][0]

    view = server.request("GET", "/view?filename=n.png&subfolder=dir/sub&type=temp&preview=webp;80")
    assert view.status == 200 and view.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(view.body)).format == "WEBP"
    jpeg = server.request("GET", "/view?filename=pic.png&type=input&preview=jpeg;90")
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert server.request("GET", "/view?filename=missing.png&type=input").status == 404
    assert server.request("GET", "/view?filename=pic.png&type=bogus").status == 400

    rgba = png_bytes((1, 2, 3, 128), mode="RGBA")
    upload(server, rgba, "alpha.png")
    alpha = server.request("GET", "/view?filename=alpha.png&type=input&channel=a")
    assert Image.open(io.BytesIO(alpha.body)).getchannel("A").getpixel((0, 0)) == 128
    rgb = server.request("GET", "/view?filename=alpha.png&type=input&channel=rgb")
    assert Image.open(io.BytesIO(rgb.body)).mode == "RGB"


def test_upload_mask_applies_alpha_to_original(plexus_server):
    server = plexus_server
    upload(server, png_bytes((9, 9, 9), size=(6, 6)), "orig.png")
    mask = png_bytes((0, 0, 0, 40), size=(6, 6), mode="RGBA")
    ref = json.dumps({"filename": "orig.png", "subfolder": "", "type": "input"})
    result = upload(server, mask, "orig-mask.png", route="/upload/mask", original_ref=ref)
    assert result.status == 200 and result.json()["name"] == "orig-mask.png"
    saved = Image.open(server.base_dir / "input" / "orig-mask.png")
    assert saved.mode == "RGBA" and saved.getpixel((0, 0)) == (9, 9, 9, 40)
    assert upload(server, mask, "m2.png", route="/upload/mask").status == 400  # no original_ref


def test_static_editor_routes(plexus_server):
    server = plexus_server
    page = server.request("GET", "/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert server.request("GET", "/editor/does-not-exist.js").status == 404
    from web.routes.static import LITEGRAPH_DIR

    scripts = sorted(LITEGRAPH_DIR.glob("*.js")) if LITEGRAPH_DIR.is_dir() else []
    if scripts:
        lib = server.request("GET", f"/lib/litegraph/{scripts[0].name}")
        assert lib.status == 200 and lib.headers["Content-Type"].startswith("application/javascript")


def test_failing_node_does_not_stop_the_worker(plexus_server):
    server = plexus_server
    ws = ws_connect(server, "fail-client")
    try:
        server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestFail", "inputs": {"message": "kaput"}}},
                                     "prompt_id": "fail-1", "client_id": "fail-client"})
        messages = collect_until(ws, prompt_done("fail-1"))
        errors = [m for m in messages if isinstance(m, dict) and m["type"] == "execution_error"]
        assert errors and errors[0]["data"]["exception_message"] == "kaput" and errors[0]["data"]["node_id"] == "1"
        assert errors[0]["data"]["node_type"] == "PxTestFail" and errors[0]["data"]["traceback"]
        server.post_json("/prompt", {"prompt": echo_prompt(2), "prompt_id": "after-fail", "client_id": "fail-client"})
        collect_until(ws, prompt_done("after-fail"))
    finally:
        ws.close()
    assert server.get_json("/history/after-fail")["after-fail"]["status"]["completed"] is True


def test_dead_worker_thread_is_restarted(plexus_server):
    server = plexus_server
    server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestExit", "inputs": {"value": 1}}},
                                 "prompt_id": "exit-1"})
    server.wait_for(lambda: server.get_json("/history/exit-1"), timeout=20)
    entry = server.get_json("/history/exit-1")["exit-1"]
    assert entry["status"]["completed"] is False  # re-queued, then given up after repeated deaths
    assert server.get_json("/system_stats")["queue"]["worker_restarts"] >= 1
    server.post_json("/prompt", {"prompt": echo_prompt(4), "prompt_id": "after-exit"})
    server.wait_idle()
    assert server.get_json("/history/after-exit")["after-exit"]["outputs"] == {"1": {"value": [4]}}


def test_free_route(plexus_server):
    server = plexus_server
    assert server.post_json("/free", {"unload_models": True, "free_memory": True}).status == 200
    assert server.request("POST", "/api/free").status == 200
    server.post_json("/prompt", {"prompt": echo_prompt(8), "prompt_id": "after-free"})
    server.wait_idle()
    assert server.get_json("/history/after-free")["after-free"]["status"]["completed"] is True


def test_partial_execution_targets_and_extra_data(plexus_server):
    server = plexus_server
    prompt = {"1": {"class_type": "PxTestEcho", "inputs": {"value": 31}},
              "2": {"class_type": "PxTestEcho", "inputs": {"value": 32}}}
    answer = server.post_json("/prompt", {"prompt": prompt, "prompt_id": "partial-1",
                                          "partial_execution_targets": ["2"],
                                          "extra_data": {"extra_pnginfo": {"workflow": {"id": "wf-1"}}},
                                          "client_id": "partial-client"})
    assert answer.status == 200
    server.wait_idle()
    entry = server.get_json("/history/partial-1")["partial-1"]
    assert entry["outputs"] == {"2": {"value": [32]}} and entry["prompt"][4] == ["2"]
    assert entry["prompt"][3] == {"extra_pnginfo": {"workflow": {"id": "wf-1"}}, "client_id": "partial-client"}
    assert server.get_json("/jobs/partial-1")["workflow_id"] == "wf-1"
    bad = server.post_json("/prompt", {"prompt": prompt, "partial_execution_targets": ["99"]})
    assert bad.status == 400 and bad.json()["error"]["type"] == "invalid_prompt"


def test_broken_websocket_client_does_not_hurt_the_server(plexus_server):
    server = plexus_server
    ws = ws_connect(server, "garbage-client")
    ws.send("{not json")
    ws.send(b"\x00\x01binary")
    ws.send(json.dumps({"type": "feature_flags", "data": "not-a-dict"}))
    ws.send(json.dumps(["a list"]))
    ws.socket.close()  # vanish without a close frame
    server.post_json("/prompt", {"prompt": echo_prompt(41), "prompt_id": "after-garbage",
                                 "client_id": "garbage-client"})
    server.wait_idle()
    assert server.get_json("/history/after-garbage")["after-garbage"]["status"]["completed"] is True
    other = ws_connect(server, "fine-client")
    other.close()


def test_every_get_route_is_also_under_api(plexus_server):
    server = plexus_server
    server.wait_idle()
    paths = ["/prompt", "/queue", "/history?max_items=3", "/object_info/PrimitiveInt", "/features", "/embeddings",
             "/extensions", "/models", "/models/checkpoints", "/custom_nodes", "/settings", "/users",
             "/jobs?limit=2", "/history/none", "/userdata?dir=none"]
    for path in paths:
        plain, api = server.request("GET", path), server.request("GET", "/api" + path)
        assert plain.status == api.status and plain.body == api.body, path
    assert server.request("GET", "/api/system_stats").status == 200
    assert server.request("GET", "/api/object_info").body == server.request("GET", "/object_info").body
