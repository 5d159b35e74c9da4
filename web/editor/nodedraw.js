// Per-node drawing of run-time state: progress bar, latent preview, output images,
// streamed text, the executing highlight and error outlines. The state lives on the node
// (`node.runState`) and is cleared when a new prompt starts.

import { LiteGraph } from "../lib/litegraph/litegraph.es.js";

const PROGRESS_COLOR = "#4caf50";
const EXECUTING_COLOR = "#2e9bff";
const TEXT_FONT = "12px monospace";

export function runStateOf(node) {
  node.runState ??= { progress: null, previewImage: null, images: [], text: "", error: null, executing: false };
  return node.runState;
}

export function clearRunState(node, { keepImages = false } = {}) {
  const state = runStateOf(node);
  state.progress = null;
  state.previewImage = null;
  state.text = "";
  state.executing = false;
  if (!keepImages) state.images = [];
}

/** Loads image URLs into HTMLImageElements kept on the node; redraws once they arrive. */
export function setNodeImages(node, urls, canvas) {
  const state = runStateOf(node);
  state.previewImage = null;
  state.images = urls.map((url) => {
    const image = new Image();
    image.onload = () => canvas?.setDirty(true, true);
    image.src = url;
    return image;
  });
  node.imgs = state.images;
}

function imageArea(node) {
  const widgetsBottom = (node.widgets ?? []).reduce((bottom, w) => {
    if (w.hidden) return bottom;
    return Math.max(bottom, (w.y ?? w.last_y ?? 0) + (w.computedHeight ?? 24));
  }, 0);
  const slotRows = Math.max(node.outputs?.length ?? 0, (node.inputs ?? []).filter((i) => !i.widget).length);
  const top = Math.max(widgetsBottom, slotRows * 20 + 6) + 4;
  return { x: 4, y: top, w: node.size[0] - 8, h: node.size[1] - top - 4 };
}

function drawFittedImage(ctx, image, area) {
  if (!image?.complete || !image.naturalWidth || area.h < 10) return;
  const ratio = Math.min(area.w / image.naturalWidth, area.h / image.naturalHeight);
  const w = image.naturalWidth * ratio;
  const h = image.naturalHeight * ratio;
  ctx.drawImage(image, area.x + (area.w - w) / 2, area.y + (area.h - h) / 2, w, h);
}

function drawWrappedText(ctx, text, area) {
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.x, area.y, area.w, area.h);
  ctx.clip();
  ctx.fillStyle = "#111";
  ctx.fillRect(area.x, area.y, area.w, area.h);
  ctx.fillStyle = "#d8f5d0";
  ctx.font = TEXT_FONT;
  const lineHeight = 14;
  const lines = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      const candidate = line ? `${line} ${word}` : word;
      if (ctx.measureText(candidate).width > area.w - 8 && line) { lines.push(line); line = word; } else line = candidate;
    }
    lines.push(line);
  }
  const visible = Math.floor(area.h / lineHeight);
  const shown = lines.slice(Math.max(0, lines.length - visible)); // keep the newest text in view
  shown.forEach((line, i) => ctx.fillText(line, area.x + 4, area.y + 12 + i * lineHeight));
  ctx.restore();
}

/** The server's message, in red above the title bar. */
function drawErrorMessage(ctx, message, width, titleHeight) {
  ctx.save();
  ctx.font = "12px sans-serif";
  const text = message.length > 90 ? `${message.slice(0, 87)}…` : message;
  const textWidth = Math.max(width, ctx.measureText(text).width + 12);
  ctx.fillStyle = "#5a1c1c";
  ctx.fillRect(0, -titleHeight - 26, textWidth, 20);
  ctx.fillStyle = "#ffd6d6";
  ctx.fillText(text, 6, -titleHeight - 12);
  ctx.restore();
}

/** Installed as `onDrawForeground` on every server node type. */
export function drawNodeRunState(ctx) {
  const node = this;
  if (node.flags?.collapsed) return;
  const state = node.runState;
  if (!state) return;
  const [width, height] = node.size;
  const title = LiteGraph.NODE_TITLE_HEIGHT;
  if (state.executing && !state.error) { // errors get litegraph's own outline (node.has_errors)
    ctx.save();
    ctx.lineWidth = 3;
    ctx.strokeStyle = EXECUTING_COLOR;
    ctx.strokeRect(-3, -title - 3, width + 6, height + title + 6);
    ctx.restore();
  }
  if (state.progress && state.progress.max > 0) {
    const fraction = Math.min(1, state.progress.value / state.progress.max);
    ctx.fillStyle = "#00000080";
    ctx.fillRect(0, 0, width, 4);
    ctx.fillStyle = PROGRESS_COLOR;
    ctx.fillRect(0, 0, width * fraction, 4);
  }
  if (state.error?.messages?.length) drawErrorMessage(ctx, state.error.messages[0], width, title);
  const area = imageArea(node);
  if (area.h < 8) return;
  if (state.text) drawWrappedText(ctx, state.text, area);
  else if (state.previewImage) drawFittedImage(ctx, state.previewImage, area);
  else if (state.images.length) drawFittedImage(ctx, state.images[state.images.length - 1], area);
}

/** Grows a node so that an image or text area of about `minHeight` px fits under its widgets. */
export function ensureDisplayRoom(node, minHeight = 200) {
  const area = imageArea(node);
  if (area.h < minHeight) node.setSize([Math.max(node.size[0], 240), node.size[1] + (minHeight - area.h)]);
}
