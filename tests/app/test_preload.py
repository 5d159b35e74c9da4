"""Issue 23: what ``--preload`` loads ahead of the first image prompt, checked in a fresh process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from app.assembly import preload_frameworks

assert preload_frameworks("none") is None
preload_frameworks("torch").join()
import torch
print(json.dumps({"modules": [m for m in ("psutil", "numpy", "PIL.GifImagePlugin", "PIL.JpegImagePlugin")
                                        if m in sys.modules], "works": float(torch.ones(2).sum())}))
"""


def test_the_preload_imports_what_the_first_image_prompt_needs():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["modules"] == ["psutil", "numpy", "PIL.GifImagePlugin", "PIL.JpegImagePlugin"]  # Image.preinit
    assert found["works"] == 2.0
