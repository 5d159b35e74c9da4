// Shows validation and execution errors on the offending nodes and inputs, with the server's
// message, and lists them in the error panel. The panel can be closed (×) and re-opened from the
// toolbar's "Errors" button while the errors last.

import { runStateOf } from "./nodedraw.js";

export class ErrorDisplay {
  constructor(panelElement, app, toggleButton = document.getElementById("btn-errors")) {
    this.panel = panelElement;
    this.app = app;
    this.flagged = new Set();
    this.toggle = toggleButton;
    this.toggle?.addEventListener("click", () => this.open());
  }

  get count() { return this.panel.querySelectorAll(".error-line").length; }

  /** Hides the panel; the errors stay on their nodes and the toolbar button brings the panel back. */
  close() {
    this.panel.hidden = true;
    if (this.toggle) {
      this.toggle.hidden = this.count === 0;
      this.toggle.textContent = `Errors (${this.count})`;
    }
  }

  open() {
    if (this.count === 0) return;
    this.panel.hidden = false;
    if (this.toggle) this.toggle.hidden = true;
  }

  #ensureCloseButton() {
    if (this.panel.querySelector(".error-close")) return;
    const close = document.createElement("button");
    close.className = "error-close";
    close.title = "Close (re-open with the Errors button)";
    close.textContent = "×";
    close.addEventListener("click", (event) => { event.stopPropagation(); this.close(); });
    this.panel.prepend(close);
  }

  clear() {
    for (const node of this.flagged) {
      node.has_errors = false;
      for (const slot of node.inputs ?? []) delete slot.hasErrors;
      if (node.runState) node.runState.error = null;
    }
    this.flagged.clear();
    this.panel.replaceChildren();
    this.panel.hidden = true;
    if (this.toggle) this.toggle.hidden = true;
    this.app.canvas?.setDirty(true, true);
  }

  #flag(nodeId, message, inputNames) {
    const node = this.app.graph.getNodeById(Number(nodeId)) ?? this.app.graph.getNodeById(nodeId);
    if (!node) return null;
    node.has_errors = true;
    const state = runStateOf(node);
    const previous = state.error ?? { messages: [], inputs: [] };
    state.error = { messages: [...previous.messages, message], inputs: [...previous.inputs, ...inputNames] };
    for (const name of inputNames) {
      const slot = node.inputs?.find((s) => s.name === name || s.widget?.name === name);
      if (slot) slot.hasErrors = true;
    }
    this.flagged.add(node);
    return node;
  }

  #addLine(text, nodeId) {
    const line = document.createElement("div");
    line.className = "error-line";
    line.textContent = text;
    if (nodeId != null) {
      line.dataset.nodeId = String(nodeId);
      line.addEventListener("click", () => this.app.focusNode(nodeId));
    }
    this.#ensureCloseButton();
    this.panel.appendChild(line);
    this.open();
  }

  /** The body of a rejected POST /prompt: `{error, node_errors}`. */
  showValidation(response) {
    this.clear();
    const nodeErrors = response?.node_errors ?? {};
    if (response?.error?.message) {
      const details = response.error.details ? `: ${response.error.details}` : "";
      this.#addLine(`${response.error.message}${details}`, null);
    }
    for (const [nodeId, entry] of Object.entries(nodeErrors)) {
      for (const error of entry.errors ?? []) {
        const inputName = error.extra_info?.input_name;
        const message = `${error.message}${error.details ? `: ${error.details}` : ""}`;
        const node = this.#flag(nodeId, message, inputName ? [inputName] : []);
        this.#addLine(`${node?.title ?? entry.class_type} #${nodeId}: ${message}`, nodeId);
      }
    }
    this.app.canvas?.setDirty(true, true);
  }

  /** A websocket `execution_error` event. */
  showExecution(data) {
    const nodeId = data.node_id;
    const message = `${data.exception_type ?? "Error"}: ${data.exception_message ?? ""}`.trim();
    const node = this.#flag(nodeId, message, []);
    this.#addLine(`${node?.title ?? data.node_type} #${nodeId}: ${message}`, nodeId);
    this.app.canvas?.setDirty(true, true);
  }
}
