"""Shared test set-up. Fixture modules in tests/fixtures/ are loaded as plugins, one per domain."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Fixture modules import one another (browser -> server): rewrite asserts whatever the import order.
pytest.register_assert_rewrite("tests.fixtures")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py") if p.stem != "__init__"
)
