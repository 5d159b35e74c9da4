"""Issue 23: what ``--preload`` loads ahead of the first image prompt, checked in a fresh process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from app.assembly import preload_frameworks, preload_native_libraries

assert preload_native_libraries("none") is None and preload_frameworks("none") is None
preload_native_libraries("torch").join()
maps = open("/proc/self/maps").read()
native = {"libtorch_cpu": "libtorch_cpu.so" in maps, "torch_imported": "torch" in sys.modules}
preload_frameworks("torch").join()
import torch
print(json.dumps({**native, "modules": [m for m in ("psutil", "numpy", "PIL.GifImagePlugin", "PIL.JpegImagePlugin")
                                        if m in sys.modules], "works": float(torch.ones(2).sum())}))
"""


def test_native_libraries_load_before_torch_is_imported_and_the_first_save_imports_nothing():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["libtorch_cpu"] and not found["torch_imported"]  # mapped by the linker, no Python import
    assert found["modules"] == ["psutil", "numpy", "PIL.GifImagePlugin", "PIL.JpegImagePlugin"]  # Image.preinit
    assert found["works"] == 2.0
