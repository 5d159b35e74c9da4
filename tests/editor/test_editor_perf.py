"""The editor at scale, in headless Chromium: a 200-node workflow opens and pans, and 300 node
types register. The hard quality bar (no frame over 50 ms; /object_info with 300 types under
300 ms) is measured by ``bench/editor.py`` (speed targets live in bench/); these tests keep a
loose guard that fails only on a gross regression, so that a busy CI machine does not flake them.
Numbers are printed with ``-s``.
"""
from __future__ import annotations

import statistics

import pytest

from bench.browser import BUILD_CHAINS_JS, MEASURE_PAN_JS, OBJECT_INFO_PROBE_JS

pytestmark = pytest.mark.browser

TYPICAL_FRAME_GUARD_MS = 50.0  # on the median draw, which neighbours' bursts hardly move
OBJECT_INFO_GUARD_MS = 1000.0  # on the best of three; the 300 ms target is measured by bench/editor.py


def test_200_node_workflow_opens_and_pans(editor):
    workflow = editor.eval(BUILD_CHAINS_JS, 40)
    assert len(workflow["nodes"]) == 200
    open_ms = editor.eval("""async (w) => {
        const t = performance.now();
        await app.loadGraphData(w);
        await new Promise(requestAnimationFrame);
        return performance.now() - t;
    }""", workflow)
    assert editor.eval("app.graph._nodes.length") == 200
    result = editor.eval(MEASURE_PAN_JS, [60, 0.8])
    draw_times = result["drawTimes"]
    assert min(result["visible"]) >= 6  # the pan keeps nodes in view
    editor.screenshot("perf-200-nodes")
    # Also pan with the mouse, as a user does (Space + drag).
    box = editor.page.locator("#graph-canvas").bounding_box()
    editor.page.mouse.move(*editor.empty_spot())
    editor.page.keyboard.down("Space")
    editor.page.mouse.down()
    editor.page.mouse.move(box["x"] + 100, box["y"] + 100, steps=20)
    editor.page.mouse.up()
    editor.page.keyboard.up("Space")
    median = statistics.median(draw_times)
    print(f"\n200 nodes: open {open_ms:.0f} ms; pan draw median {median:.1f} ms, max {max(draw_times):.1f} ms")
    assert median < TYPICAL_FRAME_GUARD_MS
    assert editor.console_errors == []


def test_300_node_types_register_quickly(editor):
    # Best of three: a single fetch on a 2-core CI machine shared with Chromium can stall on a
    # neighbour's burst (375 ms once against ~30 ms typical), which is noise, not a regression.
    probes = [editor.eval(OBJECT_INFO_PROBE_JS) for _ in range(3)]
    timings = min(probes, key=lambda probe: probe["fetchMs"] + probe["register300Ms"])
    total = timings["fetchMs"] + timings["register300Ms"]
    print(f"\n/object_info ({timings['serverTypes']} types) {timings['fetchMs']:.1f} ms; "
          f"300 types registered + palette {timings['register300Ms']:.1f} ms")
    assert timings["paletteItems"] >= 300
    assert total < OBJECT_INFO_GUARD_MS


# Counts the nodes' passes (a full redraw) over 30 quiet frames, then after one change.
IDLE_FRAMES_JS = """async () => {
  const canvas = app.canvas;
  const original = canvas.drawFrontCanvas;
  let drawn = 0;
  canvas.drawFrontCanvas = (...args) => { drawn++; return original.apply(canvas, args); };
  const frames = async (count) => { for (let i = 0; i < count; i++) await new Promise(requestAnimationFrame); };
  await frames(5);  // whatever was pending gets drawn
  drawn = 0;
  await frames(30);
  const idle = drawn;
  canvas.setDirty(true, true);
  await frames(3);
  canvas.drawFrontCanvas = original;
  return { idle, afterChange: drawn - idle };
}"""


def test_an_idle_editor_draws_nothing(editor):
    """With nothing changing, no frame is drawn; a change is drawn. litegraph's background pass marks
    the nodes' layer dirty, which with the editor's single canvas redrew every frame forever: about a
    third of a core on an idle page."""
    editor.server.wait_idle()  # no job of an earlier test sends progress that would redraw
    result = editor.eval(IDLE_FRAMES_JS)
    assert result["idle"] == 0, result
    assert result["afterChange"] >= 1, result
