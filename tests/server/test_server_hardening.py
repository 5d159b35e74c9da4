"""Issue 18: bad input never breaks the server, its restart, or its memory (over real HTTP/WS)."""
from __future__ import annotations

import io
import json
import os
import socket
import time

import pytest
from PIL import Image

from tests.fixtures.server import echo_prompt, start_server
from tests.server.test_server_api import upload

BUDGET_FLAGS = ("--max-image-pixels", "1", "--max-tensor-memory", "0.5", "--ws-client-buffer", "2",
                "--ws-total-buffer", "16")


def strict_json(body: bytes):
    def refuse(name):
        raise ValueError(f"{name} in a response")
    return json.loads(body, parse_constant=refuse)


def shaped(result) -> dict:
    """A 4xx in ComfyUI's error shape."""
    assert 400 <= result.status < 500, (result.status, result.body[:300])
    error = strict_json(result.body)["error"]
    assert {"type", "message", "details", "extra_info"} <= set(error), error
    return error


@pytest.fixture(scope="module")
def budget_server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("hardening"), *BUDGET_FLAGS)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def timeout_server(tmp_path_factory):
    handle = start_server(tmp_path_factory.mktemp("timeouts"), "--job-timeout", "2", "--interrupt-grace", "1")
    yield handle
    handle.stop()


def history_of(server, prompt_id: str, timeout: float = 20.0) -> dict:
    return server.wait_for(lambda: strict_json(server.request("GET", f"/history/{prompt_id}").body).get(prompt_id),
                           timeout)


# -- 1, 3, 9, 10: what POST /prompt accepts ---------------------------------------------------------------
@pytest.mark.parametrize("raw_number", ['"inf"', "NaN", "Infinity", "1e999", '"1"', "true", "1e300"])
def test_number_must_be_finite_and_nothing_unreadable_is_stored(budget_server, raw_number):
    body = '{"prompt": %s, "number": %s, "prompt_id": "num-%d"}' % (
        json.dumps(echo_prompt(1)), raw_number, abs(hash(raw_number)))
    result = budget_server.request("POST", "/prompt", body, {"Content-Type": "application/json"})
    shaped(result)
    strict_json(budget_server.request("GET", "/history").body)
    strict_json(budget_server.request("GET", "/jobs").body)


def test_deep_json_is_refused_at_the_door(budget_server):
    nested = '{"x": ' * 975 + "1" + "}" * 975
    body = '{"prompt": %s, "extra_data": {"extra_pnginfo": %s}}' % (json.dumps(echo_prompt(1)), nested)
    shaped(budget_server.request("POST", "/prompt", body, {"Content-Type": "application/json"}))
    body = '{"prompt": %s, "extra_data": {"a": %s}}' % (json.dumps(echo_prompt(1)), '[' * 150 + ']' * 150)
    error = shaped(budget_server.request("POST", "/prompt", body, {"Content-Type": "application/json"}))
    assert "deeply" in error["message"]
    assert budget_server.request("GET", "/history").status == 200


@pytest.mark.parametrize("client_id", [5, ["a"], {"a": 1}, "x" * 300])
def test_a_bad_client_id_is_a_400(budget_server, client_id):
    shaped(budget_server.post_json("/prompt", {"prompt": echo_prompt(1), "client_id": client_id}))


@pytest.mark.parametrize("headers", [
    {"Host": "[::1"}, {"Host": "localhost:99999"}, {"Host": "localhost:abc"},
    {"Origin": "http://localhost:99999"}, {"Origin": "http://[::1"}, {"Origin": "http://x:-1"},
])
def test_malformed_host_and_origin_headers_are_never_5xx(budget_server, headers):
    result = budget_server.request("GET", "/queue", headers=headers)
    assert result.status < 500
    if result.status >= 400:
        strict_json(result.body)


@pytest.mark.parametrize("path", [
    "/view?filename=" + "a" * 300 + ".png", "/view?filename=a.png&subfolder=" + "b" * 300,
    "/userdata/" + "c" * 300 + ".json", "/userdata?dir=" + "d" * 300,
])
def test_names_over_255_bytes_are_400(budget_server, path):
    shaped(budget_server.request("GET", path))
    shaped(upload(budget_server, b"x", filename="e" * 300 + ".png"))


def test_a_file_in_the_way_of_a_folder_is_a_400(budget_server):
    """Found by fuzzing: an upload whose subfolder has the name of an earlier upload, a user file under
    another file, or a move onto a folder were 500s (the OS error escaped)."""
    assert upload(budget_server, png((2, 2)), filename="blocker").status == 200
    error = shaped(upload(budget_server, png((2, 2)), filename="a.png", subfolder="blocker"))
    assert "blocker" in error["message"]
    shaped(upload(budget_server, png((2, 2)), filename="b.png", subfolder="blocker/deeper"))
    assert budget_server.request("POST", "/userdata/plain.json", b"{}").status == 200
    shaped(budget_server.request("POST", "/userdata/plain.json%2Finner.json", b"{}"))
    assert budget_server.request("POST", "/userdata/folder%2Fx.json", b"{}").status == 200
    shaped(budget_server.request("POST", "/userdata/plain.json/move/folder"))
    shaped(budget_server.request("POST", "/userdata/folder%2Fx.json/move/plain.json%2Fy.json"))
    assert budget_server.request("GET", "/userdata/plain.json").body == b"{}"  # nothing moved or lost
    assert budget_server.request("GET", "/object_info").status == 200


# -- 4: pixel budget on uploads, LoadImage and /view previews ---------------------------------------------
def png(size, frames: int = 1) -> bytes:
    buffer = io.BytesIO()
    images = [Image.new("RGB", size, (i * 20, 0, 0)) for i in range(frames)]
    images[0].save(buffer, format="PNG", save_all=frames > 1, append_images=images[1:])
    return buffer.getvalue()


def test_pixel_budget_counts_every_frame_of_an_upload(budget_server):
    assert upload(budget_server, png((400, 400)), filename="one.png").status == 200
    error = shaped(upload(budget_server, png((400, 400), frames=10), filename="anim.png"))
    assert "10 frame(s)" in error["message"] and "--max-image-pixels" in error["message"]
    shaped(upload(budget_server, png((1100, 1100)), filename="big.png"))
    assert not (budget_server.base_dir / "input" / "anim.png").exists()


def test_view_preview_and_load_image_respect_the_budget(budget_server):
    server = budget_server
    (server.base_dir / "input" / "huge.png").write_bytes(png((1100, 1100)))
    (server.base_dir / "input" / "frames.png").write_bytes(png((400, 400), frames=10))
    assert server.request("GET", "/view?filename=huge.png&type=input").status == 200  # the file as is
    shaped(server.request("GET", "/view?filename=huge.png&type=input&preview=webp;50"))
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "frames.png"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    prompt_id = server.post_json("/prompt", {"prompt": prompt}).json()["prompt_id"]
    entry = history_of(server, prompt_id)
    assert entry["status"]["status_str"] == "error"
    assert "too large to decode" in json.dumps(entry["status"]["messages"])


# -- 5: memory budget at validation ---------------------------------------------------------------------
def test_node_sizes_over_the_memory_budget_are_refused_before_running(budget_server):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16384, "height": 16384, "batch_size": 64,
                                                          "color": 0}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    result = budget_server.post_json("/prompt", {"prompt": prompt})
    assert result.status == 400
    assert result.json()["node_errors"]["1"]["errors"][0]["type"] == "memory_budget_exceeded"
    prompt["1"]["inputs"].update(width=8, height=8, batch_size=1)
    assert budget_server.post_json("/prompt", {"prompt": prompt}).status == 200


def test_default_memory_budget_is_half_the_free_memory(monkeypatch, tmp_path):
    import psutil

    from execution.registry import NodeRegistry
    from execution.validate import validate_prompt
    from models.folders import FolderPaths
    from models.services import Services
    from nodes import register_builtin_nodes

    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("M", (), {"available": 8 << 30})())
    services = Services(paths=FolderPaths.create(tmp_path))
    assert services.tensor_budget_bytes() == 4 << 30
    registry = NodeRegistry()
    register_builtin_nodes(registry)
    latent = registry.get("EmptyLatentImage").memory({"width": 16384, "height": 16384, "batch_size": 64})
    assert latent == 64 * 4 * 2048 * 2048 * 4  # 4.3 GB: over the 4 GB budget
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16384, "height": 16384, "batch_size": 2,
                                                          "color": 0}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    assert not validate_prompt(prompt, registry, services).ok


# -- 11: a node that never returns ----------------------------------------------------------------------
def test_job_timeout_fails_a_stuck_job_and_the_queue_moves_on(timeout_server):
    server = timeout_server
    stuck = server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestHang", "inputs": {"seconds": 3600}}}}).json()
    after = server.post_json("/prompt", {"prompt": echo_prompt(7)}).json()
    entry = history_of(server, stuck["prompt_id"], timeout=15)
    assert entry["status"]["status_str"] == "error" and "job-timeout" in json.dumps(entry["status"]["messages"])
    assert history_of(server, after["prompt_id"], timeout=15)["status"]["completed"]


def test_interrupt_reaches_a_stuck_job(timeout_server):
    server = timeout_server
    stuck = server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestHang", "inputs": {"seconds": 3600}}}}).json()
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])
    started = time.monotonic()
    assert server.post_json("/interrupt", {}).status == 200
    entry = history_of(server, stuck["prompt_id"], timeout=15)
    assert entry["status"]["status_str"] == "error" and time.monotonic() - started < 1.9  # before the timeout
    assert "execution_interrupted" in json.dumps(entry["status"]["messages"])
    done = server.post_json("/prompt", {"prompt": echo_prompt(8)}).json()
    assert history_of(server, done["prompt_id"])["status"]["completed"]


# -- 6: websocket memory --------------------------------------------------------------------------------
def silent_ws_client(port: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET /ws?clientId=silent-{sock.fileno()} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    assert b"101" in sock.recv(4096).split(b"\r\n")[0]
    return sock


def test_non_reading_clients_cannot_hold_server_memory(budget_server):
    import psutil

    server = budget_server
    process = psutil.Process(server.proc.pid)
    clients = [silent_ws_client(server.port) for _ in range(40)]
    try:
        server.wait_for(lambda: server.get_json("/system_stats")["websocket"]["clients"] >= 40)
        before = process.memory_info().rss
        peak = before
        prompt_id = server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestBigText",
                                                                  "inputs": {"megabytes": 20}}}}).json()["prompt_id"]
        deadline = time.monotonic() + 20
        while not strict_json(server.request("GET", f"/history/{prompt_id}").body) and time.monotonic() < deadline:
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)
        stats = server.get_json("/system_stats")["websocket"]
        assert stats["dropped_slow_clients"] >= 40 and stats["clients"] == 0
        # 40 clients x 20 MB would be 800 MB; the budget is 16 MB plus the message's own copies
        assert peak - before < 250 << 20, (before >> 20, peak >> 20)
    finally:
        for sock in clients:
            sock.close()
    assert server.request("GET", "/object_info").status == 200


# -- 12: secrets and tracebacks; 2: OPTIONS -------------------------------------------------------------
def test_token_is_redacted_and_options_never_skips_auth(server_factory):
    server = server_factory("--auth-token", "s3cret-token", token="s3cret-token")
    stats = server.request("GET", "/system_stats")
    assert stats.status == 200 and b"s3cret-token" not in stats.body and b"<redacted>" in stats.body
    preflight = server.request("OPTIONS", "/px_test/any", headers={"no_auth": True})
    assert preflight.status == 401
    assert server.get_json("/px_test/hits") == []  # the plugin handler never ran
    with_cors = server_factory("--auth-token", "t", "--enable-cors-header", "*", token="t")
    answered = with_cors.request("OPTIONS", "/px_test/any", headers={"no_auth": True, "Origin": "http://x.org"})
    assert answered.status == 200 and answered.headers.get("Access-Control-Allow-Origin") == "*"
    assert with_cors.get_json("/px_test/hits") == []  # preflight answered by the CORS layer itself


def non_loopback_address() -> str | None:
    import psutil

    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def test_tracebacks_and_local_paths_reach_loopback_clients_only(server_factory):
    import http.client

    from websockets.sync.client import connect

    remote_address = non_loopback_address()
    if remote_address is None:
        pytest.skip("no non-loopback address on this machine")
    server = server_factory("--listen", "0.0.0.0")
    remote_ws = connect(f"ws://{remote_address}:{server.port}/ws?clientId=remote", open_timeout=10)
    remote_ws.recv(timeout=10)
    message = f"cannot open {server.base_dir}/models/x.safetensors"
    prompt_id = server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestFail",
                                                               "inputs": {"message": message}}}}).json()["prompt_id"]
    local = history_of(server, prompt_id)  # we are on loopback: everything is there
    error = [m for m in local["status"]["messages"] if m[0] == "execution_error"][0][1]
    assert error["traceback"] and str(server.base_dir) in error["exception_message"]

    connection = http.client.HTTPConnection(remote_address, server.port, timeout=10)
    connection.request("GET", f"/history/{prompt_id}")
    remote = strict_json(connection.getresponse().read())[prompt_id]
    remote_error = [m for m in remote["status"]["messages"] if m[0] == "execution_error"][0][1]
    assert remote_error["traceback"] == [] and str(server.base_dir) not in remote_error["exception_message"]
    assert remote_error["exception_message"].startswith("cannot open <server>/")
    while True:  # and the websocket event the remote client got
        event = remote_ws.recv(timeout=10)
        if isinstance(event, str) and json.loads(event)["type"] == "execution_error":
            data = json.loads(event)["data"]
            assert data["traceback"] == [] and str(server.base_dir) not in data["exception_message"]
            break
    remote_ws.close()


# -- 13: crash leftovers and file modes -----------------------------------------------------------------
def test_restart_removes_crash_leftovers_and_keeps_recorded_outputs(tmp_path):
    base = tmp_path / "leftovers"
    server = start_server(base)
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "kept"}}}
    prompt_id = server.post_json("/prompt", {"prompt": prompt}).json()["prompt_id"]
    image = history_of(server, prompt_id)["outputs"]["2"]["images"][0]
    saved = base / "output" / image["filename"]
    umask = os.umask(0)
    os.umask(umask)
    assert saved.stat().st_mode & 0o777 == 0o666 & ~umask  # the user's umask, not 0600
    journals = base / "user" / ".plexus-writes"  # the running server's journal: emptied once settled
    assert not journals.exists() or all(path.stat().st_size == 0 for path in journals.iterdir())
    server.kill9()

    output = base / "output"
    stale = [output / ".partial-abc.png", output / ".plexus-partial-x1y2", output / ".upload-1.part"]
    for path in stale:
        path.write_bytes(b"")
    orphan = output / "kept_00002_.png"  # written by a job whose outcome was never recorded
    orphan.write_bytes(saved.read_bytes())
    journal = base / "user" / ".plexus-writes"
    journal.mkdir(parents=True, exist_ok=True)
    (journal / "crashed-job").write_text(json.dumps(str(orphan)) + "\n" + '"cut sho')  # an older Plexus's
    (journal / prompt_id).write_text(json.dumps(str(saved)) + "\n")  # recorded: must stay
    orphan_too = output / "kept_00003_.png"  # noted in a dead server's own journal, never recorded
    orphan_too.write_bytes(saved.read_bytes())
    (journal / "server-4242.jsonl").write_text(
        json.dumps(["crashed-2", str(orphan_too)]) + "\n" + json.dumps([prompt_id, str(saved)]) + "\n[\"cut")
    old = time.time() - 5
    for path in stale:
        os.utime(path, (old, old))

    restarted = start_server(base)
    try:
        assert saved.is_file() and not orphan.exists() and not orphan_too.exists()
        assert not any(path.exists() for path in stale)
        assert not any(journal.iterdir())
        assert "left by a crash" in restarted.log()
    finally:
        restarted.stop()
