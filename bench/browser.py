"""Headless Chromium as the editor bench and the editor tests run it: the browser's path and flags,
the viewport, and the page scripts that build and measure a large graph (shared by
``bench/editor.py`` and ``tests/editor/test_editor_perf.py``). No test framework is imported here."""
from __future__ import annotations

import os

CHROMIUM = os.environ.get("PLEXUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # keep requestAnimationFrame at full rate in headless (frame-time measurements)
                 "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                 "--disable-backgrounding-occluded-windows"]
VIEWPORT = {"width": 1400, "height": 860}

# `chains` chains of loader -> prompt -> sampler -> decode -> save (5 nodes each), linked, on a grid.
BUILD_CHAINS_JS = """(chains) => {
  const graph = new app.graph.constructor();
  const kinds = ["CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage"];
  const LiteGraph = app.LiteGraph;
  for (let chain = 0; chain < chains; chain++) {
    const nodes = kinds.map((type, i) => {
      const node = LiteGraph.createNode(type);
      node.pos = [i * 360, chain * 420];
      graph.add(node);
      return node;
    });
    const [loader, text, sampler, decode, save] = nodes;
    loader.connect(1, text, "clip");
    loader.connect(0, sampler, "model");
    text.connect(0, sampler, "positive");
    text.connect(0, sampler, "negative");
    sampler.connect(0, decode, "samples");
    loader.connect(2, decode, "vae");
    decode.connect(0, save, "images");
  }
  return graph.serialize();
}"""

MEASURE_PAN_JS = """async ([frames, scale]) => {
  // Pans down through the chains (nodes stay in view) while swaying left and right.
  const canvas = app.canvas;
  canvas.ds.scale = scale;
  canvas.ds.offset = [0, 0];
  const step = (i) => {
    canvas.ds.offset[0] = -300 * Math.sin(i / 10);
    canvas.ds.offset[1] -= 45;
    canvas.setDirty(true, true);
  };
  for (let i = 0; i < 15; i++) { step(i); await new Promise(requestAnimationFrame); } // warm-up
  const drawTimes = [];
  const visible = [];
  const original = canvas.draw.bind(canvas);
  canvas.draw = (...args) => {
    const t = performance.now();
    original(...args);
    drawTimes.push(performance.now() - t);
    visible.push(canvas.visible_nodes.length);
  };
  const intervals = [];
  let last = await new Promise(requestAnimationFrame);
  for (let i = 0; i < frames; i++) {
    step(i);
    const now = await new Promise(requestAnimationFrame);
    intervals.push(now - last);
    last = now;
  }
  canvas.draw = original;
  return { drawTimes, intervals, visible };
}"""

# /object_info fetched, then 300 node types (copies of the server's) registered and listed in a palette.
OBJECT_INFO_PROBE_JS = """async () => {
        const { registerServerNodes } = await import('/editor/nodes.js');
        const { describeNodeTypes, PaletteSidebar } = await import('/editor/palette.js');
        const t0 = performance.now();
        const info = await app.api.getObjectInfo();
        const t1 = performance.now();
        const real = Object.entries(info);
        const synthetic = {};
        for (let i = 0; i < 300; i++) {
          const [name, definition] = real[i % real.length];
          synthetic[`PerfProbe${i}_${name}`] = { ...definition, name: `PerfProbe${i}_${name}`, category: `perf/${definition.category}` };
        }
        const t2 = performance.now();
        registerServerNodes(synthetic, { overlayHost: app.overlayHost, addImageUpload: () => {} });
        const host = document.createElement('div');
        new PaletteSidebar(host, { onPick: () => {} }).setEntries(describeNodeTypes());
        const t3 = performance.now();
        return { fetchMs: t1 - t0, serverTypes: real.length, register300Ms: t3 - t2, paletteItems: host.querySelectorAll('.palette-item').length };
    }"""
