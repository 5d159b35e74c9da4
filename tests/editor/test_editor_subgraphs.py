"""The Plexus editor opens a subgraph workflow (instances expanded into groups, with a notice),
runs it to the same pixels as the CLI, and saves it without losing a node."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.editor.test_editor import output_pngs, wait_for

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def test_subgraph_workflow_opens_runs_and_saves(editor, editor_server):
    workflow = json.loads((ROOT / "workflows" / "subgraph_nested.json").read_text())
    editor.new_workflow()
    editor.load_workflow(workflow)
    editor.page.wait_for_function("app.graph._nodes.length === 7")
    assert editor.console_errors == []
    assert "Subgraphs expanded into groups: Invert then blend" in editor.page.inner_text("#toasts")
    assert "Unknown node types" not in editor.page.inner_text("#toasts")
    assert editor.eval("app.graph._groups.map((g) => g.title)") == ["Invert then blend"]
    blend = editor.node_ids_by_type("ImageBlend")[0]
    assert editor.eval(f"app.graph.getNodeById({blend}).widgets.find((w) => w.name === 'blend_factor').value") == 0.25

    before = set(output_pngs(editor_server))
    editor.eval("app.queuePrompt()")
    saved = wait_for(lambda: [p for p in set(output_pngs(editor_server)) - before if p.name.startswith("subgraph")],
                     message="the subgraph workflow's image")
    from PIL import Image

    with Image.open(saved[0]) as image:
        assert image.getpixel((0, 0)) == (0, 191, 255)  # as main.py run and the flat twin give

    saved_workflow = editor.eval("app.graphToPrompt().then((r) => r.workflow)")
    assert sorted(n["type"] for n in saved_workflow["nodes"]) == sorted(
        ["EmptyImage", "EmptyImage", "ImageInvert", "ImageBlend", "ImageInvert", "PreviewImage", "SaveImage"])
