// Page wiring: toolbar, side panels, canvas sizing, search box, drag-and-drop and shortcuts.

import { describeNodeTypes, NODE_DRAG_MIME, PaletteSidebar, SearchBox } from "./palette.js";
import { Gallery, QueuePanel } from "./queuepanel.js";
import { chooseFile, downloadJson, readWorkflowFile } from "./workflowio.js";
import { WorkflowsPanel } from "./workflowspanel.js";

const $ = (id) => document.getElementById(id);
const NEW_WORKFLOW_NAME = "workflow"; // the page's initial name
const DEFAULT_WORKFLOW_TITLE = "default";

function setWorkflowName(name) { $("workflow-name").value = name; }

function fitCanvas(app) {
  const element = app.elements.canvas;
  const ratio = Math.max(window.devicePixelRatio, 1);
  const { clientWidth, clientHeight } = element.parentElement;
  element.width = Math.round(clientWidth * ratio);
  element.height = Math.round(clientHeight * ratio);
  element.style.width = `${clientWidth}px`;
  element.style.height = `${clientHeight}px`;
  element.getContext("2d").scale(ratio, ratio);
  if (app.canvas?.bgcanvas && app.canvas.bgcanvas !== element) {
    app.canvas.bgcanvas.width = element.width;
    app.canvas.bgcanvas.height = element.height;
  }
  app.canvas?.setDirty(true, true);
}

function installToasts(app) {
  const host = $("toasts");
  app.toast = (message, kind = "info") => {
    const toast = document.createElement("div");
    toast.className = `toast ${kind}`;
    toast.textContent = message;
    host.appendChild(toast);
    setTimeout(() => toast.remove(), kind === "error" ? 8000 : 3000);
  };
  app.setStatusText = (text) => { $("status-text").textContent = text; };
  app.setProgress = (value, max) => {
    $("progress-bar").style.width = max ? `${Math.round((100 * value) / max)}%` : "0";
  };
}

function installTabs() {
  for (const tab of document.querySelectorAll(".tab-button")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tab-button")) other.classList.toggle("active", other === tab);
      for (const panel of document.querySelectorAll(".tab-panel")) panel.hidden = panel.id !== tab.dataset.panel;
    });
  }
}

/** Search box for empty-canvas double-clicks and links dropped on empty space. */
function installSearch(app) {
  const search = new SearchBox(document.body, () => app.palette.shownEntries());
  app.searchBox = search;
  const createAt = (type, event) => {
    const pos = app.canvas.convertEventToCanvasOffset(event);
    return app.addNode(type, [pos[0], pos[1]]);
  };
  app.canvas.showSearchBox = async (event) => {
    const type = await search.open({ clientX: event.clientX, clientY: event.clientY });
    if (type) createAt(type, event);
  };
  app.canvas.showConnectionMenu = async ({ nodeFrom, slotFrom, nodeTo, slotTo, e: event }) => {
    const fromOutput = Boolean(nodeFrom);
    const slot = fromOutput ? slotFrom : slotTo;
    const type = slot?.type ?? "*";
    const chosen = await search.open({
      clientX: event.clientX, clientY: event.clientY,
      inputType: fromOutput ? type : null, outputType: fromOutput ? null : type,
    });
    if (!chosen) return;
    const node = createAt(chosen, event);
    if (fromOutput) {
      const index = nodeFrom.outputs.findIndex((o) => o.name === slot.name);
      nodeFrom.connectByType(index, node, type);
    } else {
      const index = nodeTo.inputs.findIndex((i) => i.name === slot.name);
      nodeTo.connectByTypeOutput(index, node, type);
    }
    app.changeTracker.check();
  };
}

function installDrop(app) {
  const host = app.elements.canvasHost;
  host.addEventListener("dragover", (event) => { event.preventDefault(); event.dataTransfer.dropEffect = "copy"; }, true);
  host.addEventListener("drop", async (event) => {
    event.preventDefault();
    event.stopPropagation();
    const nodeType = event.dataTransfer.getData(NODE_DRAG_MIME);
    if (nodeType) {
      const pos = app.canvas.convertEventToCanvasOffset(event);
      app.addNode(nodeType, [pos[0], pos[1]]);
      return;
    }
    const file = event.dataTransfer.files?.[0];
    if (file) await app.handleFile(file, event);
  }, true);
}

function installShortcuts(app) {
  window.addEventListener("keydown", async (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
    const ctrl = event.ctrlKey || event.metaKey;
    if (ctrl && event.key === "Enter") { event.preventDefault(); app.queuePrompt(event.shiftKey ? -1 : 0); return; }
    if (typing || !ctrl) return;
    const key = event.key.toLowerCase();
    if (key === "z" && !event.shiftKey) { event.preventDefault(); await app.changeTracker.undo(); }
    else if (key === "y" || (key === "z" && event.shiftKey)) { event.preventDefault(); await app.changeTracker.redo(); }
    else if (key === "m") { event.preventDefault(); app.toggleMode(2); }
    else if (key === "b") { event.preventDefault(); app.toggleMode(4); }
    else if (key === "g") { event.preventDefault(); app.groupSelected(); }
    else if (key === "s") { event.preventDefault(); $("btn-save").click(); }
    else if (key === "o") { event.preventDefault(); $("btn-open").click(); }
  });
}

function installToolbar(app) {
  const batch = $("batch-count");
  batch.addEventListener("change", () => { app.batchCount = Math.max(1, Math.min(100, Number(batch.value) || 1)); batch.value = app.batchCount; });
  $("btn-queue").addEventListener("click", () => app.queuePrompt(0, app.batchCount));
  $("btn-interrupt").addEventListener("click", () => app.api.interrupt());
  $("btn-new").addEventListener("click", async () => {
    await app.loadGraphData({ nodes: [], links: [], groups: [], version: 0.4 });
    setWorkflowName(NEW_WORKFLOW_NAME);
  });
  $("btn-default").addEventListener("click", async () => {
    await app.loadDefaultWorkflow();
    setWorkflowName(DEFAULT_WORKFLOW_TITLE);
  });
  $("btn-open").addEventListener("click", async () => {
    const file = await chooseFile(".json,.png,application/json,image/png");
    if (file) await app.handleFile(file);
  });
  $("btn-save").addEventListener("click", async () => {
    const { workflow } = await app.graphToPrompt();
    downloadJson(`${$("workflow-name").value || "workflow"}.json`, workflow);
  });
  $("btn-export-api").addEventListener("click", async () => {
    const { output } = await app.graphToPrompt();
    downloadJson(`${$("workflow-name").value || "workflow"}_api.json`, output);
  });
  $("btn-refresh").addEventListener("click", () => app.refreshComboValues());
  app.execution.onStatus = (remaining) => {
    $("queue-size").textContent = `Queue: ${remaining}`;
    app.queuePanel.refresh();
  };
}

export async function setupUi(app) {
  installToasts(app);
  installTabs();
  const elements = {
    canvas: $("graph-canvas"), canvasHost: $("canvas-host"), overlayLayer: $("overlay-layer"), errorPanel: $("error-panel"),
  };
  app.elements = elements;
  fitCanvas(app);
  await app.setup(elements);
  fitCanvas(app);
  window.addEventListener("resize", () => fitCanvas(app));

  app.paletteEntries = describeNodeTypes();
  app.palette = new PaletteSidebar($("palette"), { onPick: (type) => app.addNode(type) });
  app.palette.setEntries(app.paletteEntries);
  app.queuePanel = new QueuePanel($("queue-panel"), app);
  app.gallery = new Gallery($("gallery-panel"));
  app.workflowsPanel = new WorkflowsPanel($("workflows-panel"), app, () => $("workflow-name").value);

  /** Opens a dropped/chosen file: an image on an upload node, else a workflow (JSON or PNG). */
  app.handleFile = async (file, event = null) => {
    if (event && file.type.startsWith("image/")) {
      const [x, y] = app.canvas.convertEventToCanvasOffset(event);
      const node = app.graph.getNodeOnPos(x, y);
      if (node?.acceptsImageDrop) { await node.uploadImageFile(file); return; }
    }
    try {
      const { workflow, prompt } = await readWorkflowFile(file);
      if (workflow) await app.loadGraphData(workflow);
      else if (prompt) await app.loadApiPrompt(prompt);
      else app.toast(`${file.name} carries no workflow`, "error");
      if (workflow || prompt) {
        app.fitView(); // the file's saved view was made for another screen and another graph
        app.canvas.setDirty(true, true);
        setWorkflowName(file.name.replace(/\.(json|png)$/i, ""));
      }
    } catch (error) {
      app.toast(`Could not open ${file.name}: ${error.message}`, "error");
    }
  };
  installToolbar(app);
  installSearch(app);
  installDrop(app);
  installShortcuts(app);
  app.queuePanel.refresh();
  app.workflowsPanel.refresh();
  app.canvas.startRendering?.();
  app.setStatusText("Idle");
  app.startupMs = performance.now(); // since navigation start: modules, /object_info, first workflow
  document.body.dataset.ready = "true";
}
