"""``main.py run``: formats, overrides, PNG re-runs, structured errors and exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import main as plexus_main
from tests.execution.test_workflow_conversion import WORKFLOW_04

ROOT = Path(__file__).resolve().parents[2]

API_PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "cli"}},
}


def run_cli(tmp_path, *args):
    return plexus_main.main(["--base-directory", str(tmp_path), *args])


def write(tmp_path, name, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_run_api_prompt_prints_outputs(tmp_path, capsys):
    path = write(tmp_path, "wf.json", API_PROMPT)
    assert run_cli(tmp_path, "run", str(path), "--quiet") == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "output" / "cli_00001_.png") in out
    assert (tmp_path / "output" / "cli_00001_.png").is_file()


def test_flags_after_the_subcommand_and_set_overrides(tmp_path, capsys):
    path = write(tmp_path, "wf.json", API_PROMPT)
    other = tmp_path / "elsewhere"
    code = run_cli(tmp_path, "run", str(path), "--output-directory", str(other), "--set", "1.color=16777215",
                   "--set", "SaveImage.filename_prefix=white", "--quiet")
    assert code == 0
    from PIL import Image

    with Image.open(other / "white_00001_.png") as image:
        assert image.getpixel((0, 0)) == (0, 0, 0)  # white, inverted


def test_png_output_can_be_fed_back(tmp_path, capsys):
    workflow = json.loads(json.dumps(WORKFLOW_04))
    seeded = next(n for n in workflow["nodes"] if n["type"] == "SeededV1")
    seeded["type"], seeded["widgets_values"] = "ImageInvert", []  # built-in nodes only
    path = write(tmp_path, "wf.json", workflow)
    assert run_cli(tmp_path, "run", str(path), "--quiet") == 0
    png = tmp_path / "output" / "from-primitive_00001_.png"
    assert png.is_file()
    assert run_cli(tmp_path, "run", str(png), "--quiet") == 0
    assert (tmp_path / "output" / "from-primitive_00002_.png").is_file()


def test_validation_failure_exits_nonzero_with_structured_error(tmp_path, capsys):
    bad = json.loads(json.dumps(API_PROMPT))
    bad["1"]["inputs"]["width"] = 10 ** 400  # a huge number
    bad["2"]["inputs"]["image"] = ["99", 0]  # a link to a missing node
    path = write(tmp_path, "bad.json", json.dumps(bad).replace("1" + "0" * 400, "1e400"))
    assert run_cli(tmp_path, "run", str(path), "--json") == 1
    body = json.loads(capsys.readouterr().out)
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    kinds = {e["type"] for v in body["node_errors"].values() for e in v["errors"]}
    assert "bad_linked_input" in kinds


def test_malformed_json_and_unknown_nodes(tmp_path, capsys):
    assert run_cli(tmp_path, "run", str(write(tmp_path, "broken.json", "{nope")), "--json") == 2
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "invalid_prompt"
    unknown = {"1": {"class_type": "DoesNotExist", "inputs": {}}}
    assert run_cli(tmp_path, "run", str(write(tmp_path, "unknown.json", unknown)), "--json") == 1
    assert "DoesNotExist" in json.loads(capsys.readouterr().out)["error"]["message"]
    cycle = {"1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
             "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
             "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}}}
    assert run_cli(tmp_path, "run", str(write(tmp_path, "cycle.json", cycle))) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Dependency cycle" in captured.err


def _png_with_text(path: Path, **chunks: str) -> Path:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    Image.new("RGB", (2, 2)).save(path, pnginfo=info)
    return path


MALFORMED_FILES = {
    "binary.json": b"\xff\xfe\x00junk",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "fake.png": b"not a png at all",
    "nodes_text.json": json.dumps({"nodes": "x", "links": []}).encode(),
    "extra_list.json": json.dumps({"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}, "extra_data": [1]}).encode(),
    "inputs_number.json": json.dumps({"1": {"class_type": "SaveImage", "inputs": 5}}).encode(),
    "class_list.json": json.dumps({"1": {"class_type": ["SaveImage"], "inputs": {}}}).encode(),
    "garbage_nodes.json": json.dumps({"nodes": [{"id": 1}, {"id": "a", "type": 5}], "links": [[1], "x"]}).encode(),
}


@pytest.mark.parametrize("name", [*MALFORMED_FILES, "bad_chunk.png", "bad_workflow.png"])
def test_malformed_files_are_structured_errors_not_tracebacks(tmp_path, capsys, name):
    path = tmp_path / name
    if name == "bad_chunk.png":
        _png_with_text(path, prompt="{broken")
    elif name == "bad_workflow.png":
        _png_with_text(path, workflow=json.dumps({"nodes": [{"id": "a", "type": 5, "inputs": "x"}], "links": "x"}))
    else:
        path.write_bytes(MALFORMED_FILES[name])
    assert run_cli(tmp_path, "run", str(path), "--json") in (1, 2)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    error = json.loads(captured.out)["error"]
    assert error["type"] and error["message"]


def test_node_error_exits_nonzero(tmp_path, capsys):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "../../x"}}}
    assert run_cli(tmp_path, "run", str(write(tmp_path, "err.json", prompt)), "--json") == 1
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert body["error"]["type"] == "execution_error" and body["error"]["extra_info"]["node_id"] == "3"
    assert "traceback" not in body["error"]["extra_info"]  # only with --verbose
    first_line = captured.err.splitlines()[0]
    assert first_line.startswith("error: node 3 (SaveImage) failed:") and "filename_prefix" not in first_line[:10]


def test_cli_subprocess_end_to_end(tmp_path):
    path = write(tmp_path, "wf.json", API_PROMPT)
    out = subprocess.run([sys.executable, "main.py", "run", str(path), "--base-directory", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "cli_00001_.png" in out.stdout
    assert "[3] SaveImage" in out.stderr  # per-node progress lines
