// The litegraph canvas as the editor configures it.

import { LGraphCanvas, LiteGraph } from "../lib/litegraph/litegraph.es.js";
import { applyTypeColors } from "./colors.js";

/** Subgraphs cannot be executed by the server yet: keeps "Convert to Subgraph" out of menus. */
function hideSubgraphConversion(canvas) {
  const withoutSubgraphs = (options) => options.filter((o) => !String(o?.content ?? "").startsWith("Convert to Subgraph"));
  const nodeMenu = canvas.getNodeMenuOptions.bind(canvas);
  const canvasMenu = canvas.getCanvasMenuOptions.bind(canvas);
  canvas.getNodeMenuOptions = (node) => withoutSubgraphs(nodeMenu(node));
  canvas.getCanvasMenuOptions = () => withoutSubgraphs(canvasMenu());
}

/**
 * One canvas holds both layers (see createCanvas), so the background is drawn inside the nodes' pass.
 * litegraph's drawBackCanvas ends by marking the nodes' layer dirty (with two canvases the new
 * background must be composited under it); here that would redraw every frame, forever, even on an
 * idle page. A background request outside the nodes' pass becomes a request for that pass.
 */
function drawBackgroundWithNodes(canvas) {
  const drawBackground = canvas.drawBackCanvas.bind(canvas);
  const drawNodes = canvas.drawFrontCanvas.bind(canvas);
  let drawingNodes = false;
  canvas.drawFrontCanvas = () => {
    drawingNodes = true;
    try { drawNodes(); } finally { drawingNodes = false; }
  };
  canvas.drawBackCanvas = () => {
    if (!drawingNodes) { canvas.dirty_canvas = true; return; } // drawn with the nodes, in this same frame
    const dirty = canvas.dirty_canvas;
    drawBackground();
    canvas.dirty_canvas = dirty;
  };
}

/** Creates the canvas for `graph` on `canvasElement`; `overlayHost` follows its frames. */
export function createCanvas(canvasElement, graph, objectInfo, overlayHost) {
  LiteGraph.release_link_on_empty_shows_menu = true;
  LiteGraph.alwaysSnapToGrid = false;
  LiteGraph.catch_exceptions = true;
  const canvas = new LGraphCanvas(canvasElement, graph, { skip_events: false });
  canvas.allow_searchbox = true;
  canvas.show_info = false;
  canvas.render_canvas_border = false;
  canvas.low_quality_zoom_threshold = 0.45;
  // Draw the grid and links straight onto the visible canvas: copying a separate background
  // canvas every frame (drawImage of the whole view) was the largest single cost of panning.
  canvas.bgcanvas = canvas.canvas;
  canvas.bgctx = canvas.ctx;
  drawBackgroundWithNodes(canvas);
  applyTypeColors(canvas, LGraphCanvas, objectInfo);
  hideSubgraphConversion(canvas);
  canvas.onRender = () => overlayHost.beginFrame();
  canvas.onDrawOverlay = () => overlayHost.endFrame();
  return canvas;
}
