"""A real SD3 graph (tiny random-weight demo models) through the server: sampler progress with
latent previews over the websocket, the saved image via /view, loaded models in /system_stats
and /free."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.fixtures.server import ROOT, collect_until, prompt_done, ws_connect
from web.previews import parse_frame


@pytest.mark.slow
def test_sd3_graph_streams_previews_and_saves(server_factory, demo_models_dir, tmp_path):
    kinds = sorted(p.name for p in demo_models_dir.iterdir() if p.is_dir())
    config = tmp_path / "demo_paths.yaml"
    config.write_text("\n".join(["demo:", f"  base_path: {json.dumps(str(demo_models_dir))}"]
                                + [f"  {kind}: {kind}" for kind in kinds]) + "\n")
    server = server_factory("--cpu", "--extra-model-paths-config", str(config))
    assert "loaded_models" not in server.get_json("/system_stats")  # nothing loaded, no torch yet

    prompt = json.loads((ROOT / "workflows" / "sd3_text_to_image_api.json").read_text())
    prompt["4"]["inputs"].update(width=64, height=64)
    prompt["5"]["inputs"]["steps"] = 3
    ws = ws_connect(server, "sd3-client")
    try:
        ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        answer = server.post_json("/prompt", {"prompt": prompt, "client_id": "sd3-client", "prompt_id": "sd3-1"})
        assert answer.status == 200, answer.body
        messages = collect_until(ws, prompt_done("sd3-1"), timeout=240)
    finally:
        ws.close()
    texts = [m for m in messages if isinstance(m, dict)]
    assert not [m for m in texts if m["type"] == "execution_error"], texts
    progress = [m["data"] for m in texts if m["type"] == "progress"]
    assert [(p["value"], p["max"]) for p in progress if p["node"] == "5"][-1] == (3, 3)
    previews = [parse_frame(m) for m in messages if isinstance(m, bytes)]
    assert previews and all(kind == 4 for kind, _ in previews)
    metadata, image = previews[0][1]["metadata"], previews[0][1]["image"]
    assert metadata["node_id"] == "5" and metadata["prompt_id"] == "sd3-1"
    assert Image.open(io.BytesIO(image)).format == "JPEG"

    saved = server.get_json("/history/sd3-1")["sd3-1"]["outputs"]["7"]["images"][0]
    view = server.request("GET", f"/view?filename={saved['filename']}&type=output&subfolder={saved['subfolder']}")
    assert view.status == 200 and Image.open(io.BytesIO(view.body)).size == (64, 64)

    stats = server.get_json("/system_stats")
    assert stats["loaded_models"], "the model manager exists now and lists what it holds"
    assert server.post_json("/free", {"unload_models": True}).status == 200
    server.wait_for(lambda: not server.get_json("/system_stats")["loaded_models"], timeout=20)
