// Follows the websocket events of running prompts and reflects them on the canvas: the
// executing node, sampler progress, latent previews, streamed text and output images.

import { clearRunState, ensureDisplayRoom, runStateOf, setNodeImages } from "./nodedraw.js";

export class ExecutionView {
  constructor(app) {
    this.app = app;
    this.runningPromptId = null;
    this.executingNode = null;
    this.onStatus = null;
    const { api } = app;
    const on = (type, handler) => api.addEventListener(type, (event) => handler.call(this, event.detail));
    on("status", this.#status);
    on("execution_start", this.#start);
    // A cluster worker died mid-job and the job runs again: drop the dead attempt's progress.
    on("execution_restarted", this.#restarted);
    on("execution_cached", this.#cached);
    on("executing", this.#executing);
    on("progress", this.#progress);
    on("executed", this.#executed);
    on("execution_error", this.#error);
    on("execution_interrupted", this.#interrupted);
    on("execution_success", () => this.#finish());
    on("b_preview", this.#preview);
    on("b_text", this.#text);
  }

  #node(id) {
    if (id == null) return null;
    const graph = this.app.graph;
    const text = String(id);
    return graph.getNodeById(Number(text)) ?? graph.getNodeById(text) ?? graph.getNodeById(Number(text.split(".")[0]));
  }

  #redraw() { this.app.canvas.setDirty(true, true); }

  #status(data) {
    const remaining = data?.status?.exec_info?.queue_remaining ?? 0;
    this.onStatus?.(remaining);
  }

  #start(data) {
    this.runningPromptId = data.prompt_id;
    this.app.errors.clear();
    for (const node of this.app.graph._nodes) clearRunState(node, { keepImages: true });
    this.#redraw();
  }

  #restarted(data) {
    this.#setExecuting(null);
    for (const node of this.app.graph._nodes) clearRunState(node, { keepImages: true });
    this.app.setProgress(0, 0);
    this.app.setStatusText(`Restarting (attempt ${data?.attempt ?? "?"})`);
    this.#redraw();
  }

  #cached() { /* cached nodes keep their last images */ }

  #setExecuting(node) {
    if (this.executingNode && this.executingNode !== node) {
      const previous = runStateOf(this.executingNode);
      previous.executing = false;
      previous.progress = null;
      previous.previewImage = null;
    }
    this.executingNode = node;
    if (node) runStateOf(node).executing = true;
    this.app.setStatusText(node ? `Running ${node.title}` : "Idle");
    this.#redraw();
  }

  #executing(data) {
    if (data.node == null) { this.#finish(); return; }
    this.#setExecuting(this.#node(data.display_node ?? data.node));
  }

  #finish() {
    this.#setExecuting(null);
    this.app.setProgress(0, 0);
    this.runningPromptId = null;
    this.app.queuePanel?.refresh();
  }

  #progress(data) {
    const node = this.#node(data.node) ?? this.executingNode;
    if (!node) return;
    runStateOf(node).progress = { value: data.value, max: data.max };
    this.app.setProgress(data.value, data.max);
    this.#redraw();
  }

  #executed(data) {
    const node = this.#node(data.display_node ?? data.node);
    const output = data.output ?? {};
    if (node && output.images?.length) {
      const urls = output.images.map((image) => this.app.api.viewUrl(image));
      setNodeImages(node, urls, this.app.canvas);
      ensureDisplayRoom(node);
      if (output.images.some((image) => image.type === "output")) this.app.gallery.add(urls);
    }
    if (node && output.text != null) {
      const text = Array.isArray(output.text) ? output.text.join("\n") : String(output.text);
      runStateOf(node).text = text;
      ensureDisplayRoom(node, 120);
    }
    if (node) this.app.extensions.invokeSync("executed", node, output, data);
    this.#redraw();
  }

  #error(data) {
    this.app.errors.showExecution(data);
    this.app.toast(`${data.node_type ?? "node"} failed: ${data.exception_message ?? ""}`, "error");
    this.#finish();
  }

  #interrupted() {
    this.app.toast("Interrupted", "info");
    this.#finish();
  }

  #preview(blob) {
    const node = this.executingNode;
    if (!node) return;
    const state = runStateOf(node);
    const image = new Image();
    const url = URL.createObjectURL(blob);
    image.onload = () => {
      if (state.previewImage?.src?.startsWith("blob:")) URL.revokeObjectURL(state.previewImage.src);
      state.previewImage = image;
      ensureDisplayRoom(node, 160);
      this.#redraw();
    };
    image.src = url;
  }

  #text({ node: nodeId, text }) {
    const node = this.#node(nodeId) ?? this.executingNode;
    if (!node) return;
    const state = runStateOf(node);
    state.text = (state.text ?? "") + text;
    ensureDisplayRoom(node, 120);
    this.#redraw();
  }
}
