"""The benchmarks run from requirements.txt alone: every bench module imports in a fresh interpreter
without pytest or the test fixtures, and every bench script parses its command line (``--help``).
A bench that only a test run could start (bench/editor.py importing a pytest fixture module) broke
silently before this test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem != "__init__")
SCRIPTS = sorted(name for name in MODULES if "argparse" in (ROOT / "bench" / f"{name}.py").read_text(encoding="utf-8"))


def test_every_bench_module_imports_without_test_code():
    imports = "".join(f"import bench.{name}\n" for name in MODULES)
    probe = f"import sys\n{imports}print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'tests')))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", SCRIPTS)
def test_bench_script_parses_its_command_line(name):
    done = subprocess.run([sys.executable, f"bench/{name}.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


@pytest.mark.parametrize("kind", ["bare", "worker", "durable"])
def test_floor_apps_answer_the_bench_client(kind):
    """bench/server.py's floors run as it starts them: every prompt answered (and, but for ``bare``,
    its websocket message received), with a rate and a CPU figure per prompt."""
    from bench.server import floor_app

    rates, cpu_ms = floor_app(kind, rounds=1, count=20)
    assert len(rates) == 1 and rates[0] > 0
    assert cpu_ms >= 0
