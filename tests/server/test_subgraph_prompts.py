"""POST /prompt with editor JSON that uses subgraphs: converted by the server (a Plexus extension),
run, and reported with the frontend's inner-node ids."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.fixtures.server import collect_until, prompt_done, ws_connect

ROOT = Path(__file__).resolve().parents[2]


def test_editor_json_with_nested_subgraphs_runs_through_post_prompt(plexus_server):
    workflow = json.loads((ROOT / "workflows" / "subgraph_nested.json").read_text())
    client_id = uuid.uuid4().hex
    ws = ws_connect(plexus_server, client_id)
    try:
        response = plexus_server.post_json("/prompt", {"prompt": workflow, "client_id": client_id})
        assert response.status == 200, response.body[:500]
        prompt_id = response.json()["prompt_id"]
        messages = collect_until(ws, prompt_done(prompt_id), timeout=60)
    finally:
        ws.close()
    executing = [m["data"]["node"] for m in messages if isinstance(m, dict) and m.get("type") == "executing"]
    assert "10:6:7" in executing and "10:5" in executing
    history = plexus_server.get_json(f"/history/{prompt_id}")[prompt_id]
    assert history["status"]["status_str"] == "success"
    assert history["outputs"]["20"]["images"][0]["filename"].startswith("subgraph_")
    assert history["prompt"][2]["10:6:7"]["inputs"]["blend_factor"] == 0.25
    assert history["prompt"][3]["extra_pnginfo"]["workflow"]["definitions"]["subgraphs"]  # saved without loss


def test_a_broken_subgraph_workflow_is_a_structured_400(plexus_server):
    broken = {"nodes": [{"id": 1, "type": "sg"}], "links": [],
              "definitions": {"subgraphs": [{"id": "sg", "nodes": [{"id": 1, "type": "sg"}]}]}}
    response = plexus_server.post_json("/prompt", {"prompt": broken})
    assert response.status == 400
    assert response.json()["error"]["type"] == "invalid_prompt"
