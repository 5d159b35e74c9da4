"""The websocket protocol: status, feature flags, routing, binary preview and text frames."""
from __future__ import annotations

import io
import json

from PIL import Image

from tests.fixtures.server import collect_until, echo_prompt, prompt_done, slow_prompt, ws_connect
from web.previews import parse_frame


def test_status_feature_flags_and_routing(plexus_server):
    server = plexus_server
    submitter = ws_connect(server, "submitter")
    watcher = ws_connect(server, "watcher")
    try:
        submitter.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": False}}))
        flags = collect_until(submitter, lambda m: isinstance(m, dict) and m["type"] == "feature_flags")[-1]
        assert flags["data"]["supports_preview_metadata"] is True and "max_upload_size" in flags["data"]
        server.post_json("/prompt", {"prompt": echo_prompt(11), "prompt_id": "routed-1", "client_id": "submitter"})
        events = collect_until(submitter, prompt_done("routed-1"))
        kinds = [m["type"] for m in events]
        assert "execution_start" in kinds and "execution_cached" in kinds and "executed" in kinds
        executed = next(m for m in events if m["type"] == "executed")
        assert executed["data"] == {"node": "1", "display_node": "1", "output": {"value": [11]},
                                    "prompt_id": "routed-1"}
        start = next(m for m in events if m["type"] == "execution_start")
        assert set(start["data"]) == {"prompt_id", "timestamp"}
        # the other client sees only queue status broadcasts, none of the prompt's events
        seen = collect_until(watcher, lambda m: m["type"] == "status"
                             and m["data"]["status"]["exec_info"]["queue_remaining"] == 0, timeout=10)
        assert all(m["type"] == "status" for m in seen)
        # the history is committed before executing-null reaches the client
        assert server.get_json("/history/routed-1")["routed-1"]["outputs"] == {"1": {"value": [11]}}
    finally:
        submitter.close()
        watcher.close()


def test_status_counts_the_running_job_and_ends_at_zero(plexus_server):
    """A status sent while a job runs counts it; the last one, after the job's ending, says 0 (a
    status that a newer one follows in the same drain is dropped, never one that counts wrongly)."""
    server = plexus_server
    ws = ws_connect(server, "counter")
    try:
        server.post_json("/prompt", {"prompt": slow_prompt(0.4, 2, tag="count"), "prompt_id": "count-1",
                                     "client_id": "counter"})
        events = collect_until(ws, prompt_done("count-1"))
        counts = [m["data"]["status"]["exec_info"]["queue_remaining"] for m in events if m["type"] == "status"]
        assert counts and counts[-1] == 1  # sent while it ran (the drain timer), not a stale 0
        after = collect_until(ws, lambda m: m["type"] == "status", timeout=10)
        assert after[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0
    finally:
        ws.close()


def test_prompt_without_client_id_is_broadcast(plexus_server):
    server = plexus_server
    ws = ws_connect(server, "anyone")
    try:
        server.post_json("/prompt", {"prompt": echo_prompt(12), "prompt_id": "broadcast-1"})
        events = collect_until(ws, prompt_done("broadcast-1"))
        assert any(m["type"] == "executed" for m in events)
    finally:
        ws.close()


def test_preview_text_and_warning_frames(plexus_server):
    server = plexus_server
    plain = ws_connect(server, "plain-client")
    rich = ws_connect(server, "rich-client")
    try:
        rich.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        collect_until(rich, lambda m: isinstance(m, dict) and m["type"] == "feature_flags")
        for client_id, prompt_id in (("plain-client", "prev-plain"), ("rich-client", "prev-rich")):
            server.post_json("/prompt", {"prompt": slow_prompt(0.2, 3, preview=True, text="héllo", tag=prompt_id),
                                         "prompt_id": prompt_id, "client_id": client_id})
        plain_messages = collect_until(plain, prompt_done("prev-plain"))
        rich_messages = collect_until(rich, prompt_done("prev-rich"))
    finally:
        plain.close()
        rich.close()
    plain_frames = [parse_frame(m) for m in plain_messages if isinstance(m, bytes)]
    previews = [f for kind, f in plain_frames if kind == 1]
    assert len(previews) == 3 and all(f["format"] == 1 for f in previews)
    image = Image.open(io.BytesIO(previews[0]["image"]))
    assert image.format == "JPEG" and max(image.size) <= 512 and image.size == (512, 300)
    texts = [f for kind, f in plain_frames if kind == 3]
    assert texts == [{"node": "1", "text": "héllo"}]
    warnings = [m for m in plain_messages if isinstance(m, dict) and m["type"] == "warning"]
    assert warnings and warnings[0]["data"]["node"] == "1" and "warning from 1" in warnings[0]["data"]["message"]
    progress = [m["data"] for m in plain_messages if isinstance(m, dict) and m["type"] == "progress"]
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(1, 3, "1"), (2, 3, "1"), (3, 3, "1")]
    states = [m["data"]["nodes"] for m in plain_messages if isinstance(m, dict) and m["type"] == "progress_state"]
    assert [s["1"]["state"] for s in states] == ["running", "running", "finished"]

    rich_frames = [parse_frame(m) for m in rich_messages if isinstance(m, bytes)]
    with_metadata = [f for kind, f in rich_frames if kind == 4]
    assert len(with_metadata) == 3 and not [f for kind, f in rich_frames if kind == 1]
    assert with_metadata[0]["metadata"]["node_id"] == "1"
    assert with_metadata[0]["metadata"]["prompt_id"] == "prev-rich"
    assert with_metadata[0]["metadata"]["image_type"] == "image/jpeg"
    assert Image.open(io.BytesIO(with_metadata[0]["image"])).format == "JPEG"


def test_preview_method_none_sends_no_previews(server_factory):
    server = server_factory("--preview-method", "none")
    ws = ws_connect(server, "c")
    try:
        server.post_json("/prompt", {"prompt": slow_prompt(0.1, 2, preview=True), "prompt_id": "np", "client_id": "c"})
        messages = collect_until(ws, prompt_done("np"))
    finally:
        ws.close()
    assert not [m for m in messages if isinstance(m, bytes)]
    assert len([m for m in messages if isinstance(m, dict) and m["type"] == "progress"]) == 2


def test_reconnecting_client_gets_current_node(plexus_server):
    server = plexus_server
    server.post_json("/prompt", {"prompt": slow_prompt(2, 20), "prompt_id": "reconnect-1", "client_id": "late"})
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])
    ws = ws_connect(server, "late")
    try:
        first = collect_until(ws, lambda m: isinstance(m, dict) and m["type"] in ("executing", "progress"))
        assert first[-1]["data"]["prompt_id"] == "reconnect-1"
        server.post_json("/interrupt", {})
        messages = collect_until(ws, prompt_done("reconnect-1"))
        assert any(m["type"] == "execution_interrupted" for m in messages if isinstance(m, dict))
    finally:
        ws.close()


def test_save_image_websocket_sends_full_size_png_frames(plexus_server):
    """ComfyUI's websocket-image recipe: SaveImageWebsocket output arrives as binary PNG frames, no file."""
    server = plexus_server
    ws = ws_connect(server, "png-client")
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 600, "height": 520, "batch_size": 1,
                                                            "color": 0x404040}},
              "2": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}}}
    try:
        server.post_json("/prompt", {"prompt": prompt, "prompt_id": "ws-png", "client_id": "png-client"})
        messages = collect_until(ws, prompt_done("ws-png"))
    finally:
        ws.close()
    frames = [parse_frame(m) for m in messages if isinstance(m, bytes)]
    assert [(kind, f["format"]) for kind, f in frames] == [(1, 2)]
    image = Image.open(io.BytesIO(frames[0][1]["image"]))
    assert image.format == "PNG" and image.size == (600, 520) and image.getpixel((0, 0)) == (64, 64, 64)
