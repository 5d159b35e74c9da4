"""``main.py run``'s contract with scripts and people: results alone on stdout, ``--json``, errors as a
one-line summary then the ComfyUI-shaped document, ``--set`` checked against the node's inputs and
carried into both PNG chunks, and help texts that show every default."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import main as plexus_main
from app.flags import build_parser
from tests.app.test_cli import API_PROMPT, ROOT, write
from tests.execution.test_workflow_conversion import WORKFLOW_04


def run_cli(tmp_path, *args):
    return plexus_main.main(["--base-directory", str(tmp_path), *args])


def builtin_workflow() -> dict:
    """WORKFLOW_04 with built-in nodes only: EmptyImage -> ImageInvert -> SaveImage (prefix from a PrimitiveNode)."""
    workflow = copy.deepcopy(WORKFLOW_04)
    seeded = next(n for n in workflow["nodes"] if n["type"] == "SeededV1")
    seeded["type"], seeded["widgets_values"] = "ImageInvert", []
    return workflow


def png_chunks(path: Path) -> tuple[dict, dict]:
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text["prompt"]), json.loads(image.text["workflow"])


def test_stdout_carries_only_absolute_output_paths(tmp_path):
    prompt = copy.deepcopy(API_PROMPT)
    prompt["4"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    prompt["5"] = {"class_type": "SaveText", "inputs": {"text": "hello", "filename_prefix": "notes", "format": "txt"}}
    path = write(tmp_path, "wf.json", prompt)
    out = subprocess.run([sys.executable, "main.py", "run", str(path), "--base-directory", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and all(Path(line).is_absolute() and Path(line).is_file() for line in lines)
    assert {str(Path(line).parent) for line in lines} == {str(tmp_path / "output"), str(tmp_path / "temp")}
    assert {Path(line).name for line in lines} >= {"cli_00001_.png", "notes_00001_.txt"}
    assert (tmp_path / "output" / "notes_00001_.txt").read_text() == "hello"
    assert "[3] SaveImage" in out.stderr and "done:" in out.stderr  # progress and summary on stderr


def test_json_prints_one_document_with_the_outputs(tmp_path, capsys):
    assert run_cli(tmp_path, "run", str(write(tmp_path, "wf.json", API_PROMPT)), "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "success"
    assert body["files"] == [str((tmp_path / "output" / "cli_00001_.png").resolve())]
    assert body["outputs"]["3"]["images"][0]["filename"] == "cli_00001_.png"


def test_errors_print_a_summary_then_the_document_on_stderr(tmp_path, capsys):
    bad = copy.deepcopy(API_PROMPT)
    bad["1"]["inputs"]["width"] = -5
    assert run_cli(tmp_path, "run", str(write(tmp_path, "bad.json", bad))) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    summary, document = captured.err.split("\n", 1)
    assert summary.startswith("error: Prompt outputs failed validation: node 1 (EmptyImage): Value -5 smaller than min")
    assert json.loads(document)["node_errors"]["1"]["errors"][0]["type"] == "value_smaller_than_min"


def test_verbose_keeps_the_traceback(tmp_path, capsys):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "../../x"}}}
    assert run_cli(tmp_path, "run", str(write(tmp_path, "err.json", prompt)), "--json", "--verbose") == 1
    assert "Traceback" in "".join(json.loads(capsys.readouterr().out)["error"]["extra_info"]["traceback"])


def test_set_with_an_unknown_input_lists_the_node_inputs(tmp_path, capsys):
    path = write(tmp_path, "wf.json", API_PROMPT)
    assert run_cli(tmp_path, "run", str(path), "--set", "EmptyImage.colour=3") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("node 1 (EmptyImage) has no input 'colour'; its inputs are: width, height, batch_size, color"
            in captured.err.splitlines()[0])
    assert not (tmp_path / "output" / "cli_00001_.png").exists()
    assert run_cli(tmp_path, "run", str(path), "--set", "Nowhere.width=3") == 2
    assert "no node with id, type or title 'Nowhere'" in capsys.readouterr().err


def test_png_from_set_carries_the_overridden_graph_in_both_chunks(tmp_path, capsys):
    path = write(tmp_path, "wf.json", builtin_workflow())
    assert run_cli(tmp_path, "run", str(path), "--quiet", "--set", "EmptyImage.color=65280",
                   "--set", "5.filename_prefix=green") == 0
    png = tmp_path / "output" / "green_00001_.png"
    assert capsys.readouterr().out.strip() == str(png.resolve())
    prompt, workflow = png_chunks(png)
    assert prompt["1"]["inputs"]["color"] == 65280 and prompt["5"]["inputs"]["filename_prefix"] == "green"
    nodes = {n["id"]: n for n in workflow["nodes"]}
    assert nodes[1]["widgets_values"] == [64, 32, 1, 65280]  # the widget itself
    assert nodes[6]["widgets_values"][0] == "green"  # the PrimitiveNode feeding the converted widget
    # the editor's graph restores the same prompt: re-running the PNG's workflow gives the same image
    from execution.workflow import convert_workflow
    from tests.execution.test_workflow_conversion import registry

    converted = convert_workflow(workflow, registry()).prompt
    assert {k: v["inputs"] for k, v in converted.items()} == {k: v["inputs"] for k, v in prompt.items()}


def test_missing_model_names_the_folder_to_put_it_in(tmp_path, capsys):
    extra = tmp_path / "comfy"
    (extra / "models" / "checkpoints").mkdir(parents=True)
    config = write(tmp_path, "extra.yaml", f"comfy:\n  base_path: {extra}\n  checkpoints: models/checkpoints\n")
    loader = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd3.5_medium.safetensors"}}
    path = write(tmp_path, "wf.json", {"1": loader, "2": {"class_type": "VAEDecode", "inputs": {
        "samples": ["3", 0], "vae": ["1", 2]}}, "3": {"class_type": "EmptySD3LatentImage", "inputs": {
            "width": 64, "height": 64, "batch_size": 1}}, "4": {"class_type": "SaveImage", "inputs": {
                "images": ["2", 0], "filename_prefix": "x"}}})
    assert run_cli(tmp_path, "run", str(path), "--extra-model-paths-config", str(config)) == 1
    summary = capsys.readouterr().err.splitlines()[0]
    assert f"put the checkpoints model in {tmp_path / 'models' / 'checkpoints'}/" in summary
    assert str(extra / "models" / "checkpoints") in summary  # the extra path searched


def _actions(parser) -> list:
    return [a for a in parser._actions if a.option_strings and a.dest != "help"]


def test_every_flag_has_help_that_shows_its_default():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "run" in a.choices).choices
    for owner in [parser, *subparsers.values()]:
        for action in _actions(owner):
            assert action.help and "(default: " in action.help, (owner.prog, action.option_strings)


def test_demo_help_shows_only_what_demo_uses_and_the_cluster_metavar_names_local():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "run" in a.choices).choices
    demo_flags = {flag for action in _actions(subparsers["demo"]) for flag in action.option_strings}
    assert demo_flags == {"--base-directory", "--user-directory", "--force", "--listen", "--port"}
    cluster = next(a for a in _actions(subparsers["serve"]) if "--cluster" in a.option_strings)
    assert "local" in cluster.metavar


def test_demo_closing_hint_prints_the_real_host_and_port(tmp_path, capsys, monkeypatch):
    import models.demo.command as demo

    monkeypatch.setattr(demo, "write_demo_models", lambda models_dir, force=False: [])
    assert plexus_main.main(["--port", "9123", "demo", "--base-directory", str(tmp_path)]) == 0
    assert "python main.py serve --port 9123   (then open http://127.0.0.1:9123" in capsys.readouterr().out
    assert plexus_main.main(["demo", "--base-directory", str(tmp_path), "--listen", "0.0.0.0", "--port", "9200"]) == 0
    assert "open http://127.0.0.1:9200" in capsys.readouterr().out


def test_the_example_pack_loads_only_when_asked(tmp_path):
    from app import assembly

    def registry_for(*flags):
        args = build_parser().parse_args(["--base-directory", str(tmp_path), *flags])
        return assembly.build_registry(args, assembly.build_services(args))[0]

    assert registry_for().get("ExampleGradient") is None
    assert registry_for("--enable-example-nodes").get("ExampleGradient") is not None
