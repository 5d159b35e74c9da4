"""The routes and payload fields ComfyUI's official frontend (1.58.1) and ``comfyui-cli`` read,
over real HTTP and websockets; and choosing the frontend at ``/``."""
from __future__ import annotations

import json
import time

from tests.fixtures.server import collect_until, echo_prompt, ws_connect


def test_jobs_list_items_carry_the_fields_the_frontend_schema_requires(plexus_server):
    server = plexus_server
    server.post_json("/prompt", {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {
        "width": 4, "height": 4, "batch_size": 1, "color": 0}}, "2": {"class_type": "SaveImage", "inputs": {
            "images": ["1", 0], "filename_prefix": "jobs_fields"}}}, "prompt_id": "fe-job-image"})
    server.post_json("/prompt", {"prompt": {"1": {"class_type": "PreviewAny", "inputs": {"source": 42}}},
                                 "prompt_id": "fe-job-text"})
    server.wait_idle()
    listing = server.get_json("/api/jobs?status=completed,failed,cancelled&limit=200&offset=0")
    jobs = {job["id"]: job for job in listing["jobs"]}
    image = jobs["fe-job-image"]
    assert isinstance(image["create_time"], int) and image["outputs_count"] == 1
    assert image["previewable_outputs_count"] == 1
    preview = image["preview_output"]
    assert preview["nodeId"] == "2" and preview["mediaType"] == "images" and preview["type"] == "output"
    assert preview["filename"].startswith("jobs_fields")
    text = jobs["fe-job-text"]
    assert text["outputs_count"] == 0 and text["previewable_outputs_count"] == 1
    assert text["preview_output"] == {"nodeId": "1", "mediaType": "text", "content": "42"}
    pagination = listing["pagination"]
    assert pagination["limit"] == 200 and pagination["offset"] == 0 and isinstance(pagination["has_more"], bool)
    assert isinstance(server.get_json("/api/jobs")["pagination"]["limit"], int)  # never null
    detail = server.get_json("/api/jobs/fe-job-image")
    assert detail["workflow"]["prompt"]["2"]["class_type"] == "SaveImage" and "extra_data" in detail["workflow"]
    assert detail["outputs"]["2"]["images"][0]["filename"] == preview["filename"]
    missing = server.request("GET", "/api/jobs/no-such-job")
    assert missing.status == 404 and missing.json() == {"error": "Job not found"}
    for query in ("status=bogus", "sort_by=size", "sort_order=up", "limit=-1"):
        bad = server.request("GET", f"/api/jobs?{query}")
        assert bad.status == 400 and "error" in bad.json(), query
    ascending = server.get_json("/api/jobs?sort_order=asc")["jobs"]
    assert [j["create_time"] for j in ascending] == sorted(j["create_time"] for j in ascending)
    only = server.get_json("/api/jobs?ids=fe-job-text,unknown")
    assert [j["id"] for j in only["jobs"]] == ["fe-job-text"] and only["pagination"]["total"] == 1


def test_cancel_routes_dequeue_a_pending_job_and_ignore_finished_ones(plexus_server):
    server = plexus_server
    slow = {"1": {"class_type": "PxTestSlow", "inputs": {"seconds": 1.0, "steps": 4, "preview": False,
                                                         "text": "", "tag": "a"}}}
    server.post_json("/prompt", {"prompt": slow, "prompt_id": "fe-running"})
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])  # cancelling a pending one deletes it
    server.post_json("/prompt", {"prompt": echo_prompt(5), "prompt_id": "fe-pending"})
    assert server.post_json("/api/jobs/cancel", {"job_ids": ["fe-pending"]}).json() == {"cancelled": True}
    assert server.post_json("/api/jobs/fe-running/cancel", {}).json()["cancelled"] in (True, False)
    server.wait_idle()
    assert server.get_json("/api/jobs/fe-running")["status"] in ("cancelled", "completed")
    assert server.request("GET", "/api/jobs/fe-pending").status == 404
    assert server.post_json("/api/jobs/fe-running/cancel", {}).json() == {"cancelled": False}
    assert server.post_json("/api/jobs/cancel", {"job_ids": "x"}).status == 400


def test_logs_raw_joined_and_pushed_to_subscribers(plexus_server):
    server = plexus_server
    raw = server.get_json("/internal/logs/raw")
    assert raw["size"]["cols"] > 0 and any("Listening on" in entry["m"] for entry in raw["entries"])
    assert "Listening on" in server.get_json("/internal/logs")
    ws = ws_connect(server, "logs-client")
    try:
        assert server.request("PATCH", "/internal/logs/subscribe", {"clientId": "logs-client",
                                                                    "enabled": True}).status == 200
        server.post_json("/prompt", {"prompt": {"1": {"class_type": "PxTestFail", "inputs": {
            "message": "logged failure"}}}})  # the worker prints the node's error
        logs = collect_until(ws, lambda m: isinstance(m, dict) and m.get("type") == "logs")[-1]
        assert logs["data"]["entries"] and {"t", "m"} <= set(logs["data"]["entries"][0])
    finally:
        server.request("PATCH", "/internal/logs/subscribe", {"clientId": "logs-client", "enabled": False})
        ws.close()
    assert server.request("PATCH", "/internal/logs/subscribe", {"enabled": True}).status == 400


def test_folder_paths_model_library_files_and_metadata(plexus_server):
    from safetensors.numpy import save_file
    import numpy as np

    server = plexus_server
    loras = server.base_dir / "models" / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(loras / "style.safetensors"),
              metadata={"ss_network_dim": "16", "modelspec.title": "Style"})
    (loras / "broken.safetensors").write_bytes(b"\x01")
    folder_paths = server.get_json("/internal/folder_paths")
    assert str(loras) in folder_paths["loras"] and "checkpoints" in folder_paths and "unet" in folder_paths
    library = server.get_json("/api/experiment/models")
    assert {"name": "loras", "folders": [str(loras)]} in library
    assert not any(entry["name"] in ("configs", "custom_nodes") for entry in library)
    listed = server.get_json("/api/experiment/models/loras")
    style = next(entry for entry in listed if entry["name"] == "style.safetensors")
    assert style["pathIndex"] == 0 and style["size"] > 0 and style["modified"] > 0
    assert server.request("GET", "/api/experiment/models/nope").status == 404
    assert server.get_json("/view_metadata/loras?filename=style.safetensors") == {
        "ss_network_dim": "16", "modelspec.title": "Style"}
    assert server.request("GET", "/api/view_metadata/loras?filename=missing.safetensors").status == 404
    assert server.request("GET", "/view_metadata/loras?filename=broken.safetensors").status == 400
    assert server.request("GET", "/view_metadata/loras?filename=../../x.safetensors").status in (400, 404)
    (loras / "folder_model").mkdir()
    (loras / "folder_model" / "config.json").write_text("{}")
    assert server.get_json("/view_metadata/loras?filename=folder_model") == {}
    from PIL import Image

    Image.new("RGB", (8, 8), (0, 255, 0)).save(loras / "style.png")
    preview = server.request("GET", "/api/experiment/models/preview/loras/0/style.safetensors")
    assert preview.status == 200 and preview.headers["Content-Type"] == "image/webp"
    assert server.request("GET", "/api/experiment/models/preview/loras/0/folder_model").status == 404
    assert server.request("GET", "/api/experiment/models/preview/loras/9/style.safetensors").status == 404
    (server.base_dir / "input" / "older.png").write_bytes(b"a")
    time.sleep(0.02)
    (server.base_dir / "input" / "newer.png").write_bytes(b"b")
    names = server.get_json("/internal/files/input")
    assert names.index("newer.png") < names.index("older.png")
    assert server.request("GET", "/internal/files/models").status == 400


def test_i18n_system_stats_and_user_defaults(plexus_server):
    server = plexus_server
    info = server.get_json("/object_info")
    node_defs = server.get_json("/api/i18n")["en"]["nodeDefs"]
    assert set(node_defs) == set(info)
    assert node_defs["PreviewText"]["display_name"] == info["PreviewText"]["display_name"]
    system = server.get_json("/api/system_stats")["system"]
    assert system["comfyui_version"] == "" and system["plexus_version"]
    assert system["required_frontend_version"] == "" and isinstance(system["argv"], list)
    assert server.request("GET", "/user.css").body == b""
    assert server.get_json("/api/userdata/comfy.templates.json") == []
    assert server.get_json("/api/userdata?dir=workflows") is not None  # the folder exists from the start
    assert "/extensions/plexus-extras/plexus_extras.js" not in server.get_json("/extensions")


def test_pack_workflow_templates_and_global_subgraphs(server_factory, tmp_path):
    pack = tmp_path / "base" / "custom_nodes" / "blueprint_pack"
    (pack / "example_workflows").mkdir(parents=True)
    (pack / "subgraphs").mkdir()
    (pack / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    (pack / "example_workflows" / "hello.json").write_text(json.dumps({"nodes": []}))
    (pack / "subgraphs" / "encode.json").write_text(json.dumps({"definitions": {"subgraphs": []}}))
    server = server_factory(base_dir=tmp_path / "base")
    assert server.get_json("/api/workflow_templates") == {"blueprint_pack": ["hello"]}
    assert server.get_json("/api/workflow_templates/blueprint_pack/hello.json") == {"nodes": []}
    missing = server.request("GET", "/api/workflow_templates/blueprint_pack/nope.json")
    assert missing.status == 404 and missing.json()
    blueprints = server.get_json("/api/global_subgraphs")
    (key, entry), = blueprints.items()
    assert entry == {"source": "custom_node", "name": "encode", "info": {"node_pack": "custom_nodes.blueprint_pack"}}
    full = server.get_json(f"/api/global_subgraphs/{key}")
    assert json.loads(full["data"]) == {"definitions": {"subgraphs": []}}
    assert server.request("GET", "/api/global_subgraphs/unknown").status == 404


def test_front_end_root_serves_a_site_and_the_plexus_editor_stays_at_plexus(server_factory, tmp_path):
    site = tmp_path / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>other frontend</title>")
    (site / "assets" / "app.js").write_text("export const x = 1;")
    server = server_factory("--front-end-root", str(site))
    assert b"other frontend" in server.request("GET", "/").body
    script = server.request("GET", "/assets/app.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("application/javascript")
    assert server.request("GET", "/assets/../../etc/passwd").status in (400, 403, 404)
    assert server.request("GET", "/nothing-here.js").status == 404
    assert b"<title>Plexus</title>" in server.request("GET", "/plexus/").body
    assert server.request("GET", "/plexus/editor/main.js").status == 200
    assert "PreviewText" in server.request("GET", "/plexus/object_info").json()
    assert server.get_json("/object_info")  # the API is untouched by the site's catch-all
    assert server.get_json("/extensions")[0] == "/extensions/plexus-extras/plexus_extras.js"
    assert server.request("GET", "/extensions/plexus-extras/plexus_extras.js").status == 200
    # the editor at /plexus/ loads extensions relative to itself; their "../../scripts/app.js" too
    assert server.request("GET", "/plexus/extensions/plexus-extras/plexus_extras.js").status == 200
    assert b"window.app" in server.request("GET", "/plexus/scripts/app.js").body


def test_front_end_comfyui_without_the_package_or_a_bad_root_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    from tests.fixtures.server import ROOT

    result = subprocess.run([sys.executable, "main.py", "--base-directory", str(tmp_path), "serve", "--port", "1",
                             "--front-end-root", str(tmp_path / "missing")], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "no index.html" in result.stderr
