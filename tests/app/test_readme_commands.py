"""Every command of the README's "Try it" block, run as written on the demo models, and its effect.

The lines are read from README.md itself. Each runs in a scratch folder (the README's relative paths
resolve there, `workflows/` is linked in) with ``--base-directory`` set to it, and the serve line
gets a free ``--port``: nothing is written into the checkout.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.server import free_port

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def try_it_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Try it\s+```sh\n(.*?)```", readme, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def as_subprocess(words: list[str], base: Path) -> list[str]:
    assert words[:2] == ["python", "main.py"], words
    return [sys.executable, str(ROOT / "main.py"), *words[2:], "--base-directory", str(base)]


def run(words: list[str], base: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(as_subprocess(words, base), cwd=base, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{shlex.join(words)}\n{done.stderr[-3000:]}"
    assert "torchvision" not in done.stderr  # no transformers notice about a backend Plexus never uses
    return done


def png_chunks(path: Path) -> tuple[dict, dict]:
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text["prompt"]), json.loads(image.text["workflow"])


def pixels(path: Path) -> bytes:
    from PIL import Image

    with Image.open(path) as image:
        return image.tobytes()


def test_the_readme_try_it_block_works_as_written(tmp_path):
    commands = try_it_commands()
    assert [words[2] if len(words) > 2 else "serve" for words in commands] == ["demo", "run", "run", "run", "serve"]
    (tmp_path / "workflows").symlink_to(ROOT / "workflows")
    demo, run_workflow, run_png, run_with_set, serve = commands

    run(demo, tmp_path)
    assert (tmp_path / "models" / "checkpoints" / "plexus-demo-sd3-tiny-RANDOM.safetensors").is_file()

    first = tmp_path / "output" / "plexus-sd3-demo_00001_.png"
    assert run(run_workflow, tmp_path).stdout == f"{first.resolve()}\n"

    second = tmp_path / "output" / "plexus-sd3-demo_00002_.png"
    assert run_png[3] == str(first.relative_to(tmp_path))  # the README re-runs the PNG the line above made
    assert run(run_png, tmp_path).stdout == f"{second.resolve()}\n"
    assert pixels(second) == pixels(first) and png_chunks(second)[0] == png_chunks(first)[0]

    third = tmp_path / "output" / "plexus-sd3-demo_00003_.png"
    assert run(run_with_set, tmp_path).stdout == f"{third.resolve()}\n"
    prompt, workflow = png_chunks(third)
    sampler = next(n for n in prompt.values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["seed"] == 7 and prompt["2"]["inputs"]["text"] == "a red fox"
    nodes = {n["id"]: n for n in workflow["nodes"]}
    assert nodes[2]["widgets_values"][0] == "a red fox" and nodes[5]["widgets_values"][0] == 7
    assert pixels(third) != pixels(first)

    port = free_port()
    server = subprocess.Popen([*as_subprocess(serve, tmp_path), "--port", str(port)], cwd=tmp_path, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while "Listening on" not in line:
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200 and b"<html" in response.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
