// The editor application and its page API (`window.app`): graph, canvas, loadGraphData,
// graphToPrompt, queuePrompt, registerExtension. UI wiring lives in ui.js.

import { LGraph, LGraphGroup, LGraphNode, LiteGraph } from "../lib/litegraph/litegraph.es.js";
import { PlexusApi } from "./api.js";
import { registerServerNodes, registerVirtualNodes } from "./nodes.js";
import { graphToPrompt as buildPrompt } from "./prompt.js";
import { applyControlAfterGenerate, parseInputSpec, setComboValues } from "./widgets.js";
import { addImageUpload } from "./imageupload.js";
import { OverlayHost } from "./textarea.js";
import { ExtensionRegistry, loadExtensionModules } from "./extensions.js";
import { ChangeTracker } from "./changetracker.js";
import { ErrorDisplay } from "./errors.js";
import { ExecutionView } from "./progress.js";
import { clearRunState } from "./nodedraw.js";
import { normalizeWorkflow, rememberWorkflow, recallWorkflow } from "./workflowio.js";
import { createCanvas } from "./canvas.js";
import { buildDefaultWorkflow, DEFAULT_WORKFLOW_NAME } from "./defaultgraph.js";
import { convertInputToWidget, convertWidgetToInput } from "./widgetinputs.js";

export class PlexusApp {
  constructor() {
    this.api = new PlexusApi();
    this.LiteGraph = LiteGraph; // for extensions and automation: the same module instance the editor uses
    this.extensions = new ExtensionRegistry();
    this.objectInfo = {};
    this.graph = null;
    this.canvas = null;
    this.batchCount = 1;
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }

  /** Registers a web extension; see web/editor/README.md for its hooks. */
  registerExtension(extension) {
    this.extensions.register(extension);
    if (this.graph) extension.setup?.(this); // late registration: setup has already run
  }

  isServerType(type) { return Object.hasOwn(this.objectInfo, type); }

  async setup(elements) {
    this.elements = elements;
    const [objectInfo] = await Promise.all([this.api.getObjectInfo(), loadExtensionModules(this.api)]);
    this.objectInfo = objectInfo;
    await this.extensions.invoke("init", this);

    this.graph = new LGraph();
    this.overlayHost = new OverlayHost(elements.overlayLayer, elements.canvas);
    this.canvas = createCanvas(elements.canvas, this.graph, objectInfo, this.overlayHost);

    const nodeEnv = {
      overlayHost: this.overlayHost,
      addImageUpload: (node, widget) => addImageUpload(node, widget, this),
      beforeRegisterNodeDef: (nodeType, definition) => this.extensions.invokeSync("beforeRegisterNodeDef", nodeType, definition, this),
      onNodeCreated: (node) => this.extensions.invokeSync("nodeCreated", node, this),
      onNodeConfigured: (node) => this.extensions.invokeSync("loadedGraphNode", node, this),
    };
    registerVirtualNodes(nodeEnv);
    this.nodeTypeNames = registerServerNodes(objectInfo, nodeEnv);

    this.errors = new ErrorDisplay(elements.errorPanel, this);
    this.execution = new ExecutionView(this);
    this.changeTracker = new ChangeTracker(this, { onChange: () => this.autosave() });
    this.changeTracker.attach(elements.canvasHost);
    this.api.connect();
    await this.#loadInitialWorkflow();
    await this.extensions.invoke("setup", this);
    this.markReady(this);
  }

  async #loadInitialWorkflow() {
    const remembered = recallWorkflow();
    if (remembered?.nodes) {
      try {
        await this.loadGraphData(remembered);
        return;
      } catch (error) {
        console.warn("could not restore the last workflow:", error);
      }
    }
    await this.loadDefaultWorkflow();
  }

  /** The SD3 text-to-image workflow from user storage (workflows/sd3_text_to_image.json), else
   *  one built from /object_info with the first checkpoint listed. */
  async loadDefaultWorkflow() {
    let workflow = null;
    const stored = await this.api.listUserWorkflows().catch(() => []);
    if (stored.includes(DEFAULT_WORKFLOW_NAME)) workflow = await this.api.getUserWorkflow(DEFAULT_WORKFLOW_NAME);
    workflow ??= buildDefaultWorkflow(this.objectInfo);
    await this.loadGraphData(workflow);
    this.fitView(); // the saved view was made for some other screen
    this.canvas.setDirty(true, true);
  }

  currentViewport() {
    return { scale: this.canvas.ds.scale, offset: [...this.canvas.ds.offset] };
  }

  /** Loads editor JSON (ComfyUI 0.4 or 1). Unknown node types are kept as placeholders. */
  async loadGraphData(workflow, { keepHistory = false } = {}) {
    if (!workflow) {
      this.graph.clear();
    } else {
      let data = normalizeWorkflow(typeof workflow === "string" ? JSON.parse(workflow) : structuredClone(workflow));
      if (data.definitions?.subgraphs?.length) data = normalizeWorkflow(await this.expandSubgraphs(data));
      this.errors?.clear();
      this.graph.clear();
      this.graph.configure(data);
      for (const node of this.graph._nodes) node.adoptTarget?.(); // PrimitiveNodes saved before their targets
      const ds = data.extra?.ds;
      if (ds?.offset && ds.scale) {
        this.canvas.ds.scale = ds.scale;
        this.canvas.ds.offset = [ds.offset[0], ds.offset[1]];
      } else {
        this.fitView();
      }
      const missing = [...new Set((data.nodes ?? []).map((n) => n.type).filter((t) => !LiteGraph.registered_node_types[t]))];
      if (missing.length) this.toast(`Unknown node types: ${missing.join(", ")}`, "error");
    }
    for (const node of this.graph._nodes) clearRunState(node);
    this.canvas.setDirty(true, true);
    if (!keepHistory) this.changeTracker?.reset();
    this.autosave();
  }

  /** Subgraph instances are expanded into groups by the server (the editor has no subgraph nodes). */
  async expandSubgraphs(data) {
    const response = await this.api.postJson("workflow/expand_subgraphs", data);
    const expanded = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(expanded?.error?.details || `cannot open the subgraphs (HTTP ${response.status})`);
    const names = expanded.extra?.plexus_expanded_subgraphs ?? [];
    this.toast(`Subgraphs expanded into groups: ${names.join(", ")}. They run and save as plain nodes.`, "info");
    return expanded;
  }

  fitView() {
    const nodes = this.graph._nodes;
    if (!nodes.length) { this.canvas.ds.offset = [0, 0]; this.canvas.ds.scale = 1; return; }
    const minX = Math.min(...nodes.map((n) => n.pos[0]));
    const minY = Math.min(...nodes.map((n) => n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT));
    const maxX = Math.max(...nodes.map((n) => n.pos[0] + n.size[0]));
    const maxY = Math.max(...nodes.map((n) => n.pos[1] + n.size[1]));
    const { clientWidth, clientHeight } = this.elements.canvas;
    const scale = Math.min(1.2, Math.max(0.1, Math.min(clientWidth / (maxX - minX + 160), clientHeight / (maxY - minY + 120))));
    this.canvas.ds.scale = scale;
    this.canvas.ds.offset = [-minX + 40 / scale, -minY + 40 / scale];
  }

  autosave() {
    if (this.graph) rememberWorkflow(this.graph.serialize());
  }

  /** Returns `{output, workflow}`: the API prompt and the editor JSON. */
  async graphToPrompt() {
    return buildPrompt(this.graph, { isServerType: (type) => this.isServerType(type) });
  }

  /** Queues the graph `batchCount` times (front of the queue when `number` is -1). Applies
   *  control_after_generate after each. Returns the server responses; shows errors on nodes. */
  async queuePrompt(number = 0, batchCount = this.batchCount) {
    const responses = [];
    for (let i = 0; i < batchCount; i++) {
      const { output, workflow } = await this.graphToPrompt();
      await this.extensions.invoke("beforeQueuePrompt", { output, workflow }, this);
      // Cleared before posting, not after the answer: a prompt that fails at once can deliver its
      // execution_error over the websocket before the POST's answer arrives here.
      this.errors.clear();
      try {
        const response = await this.api.queuePrompt(output, workflow, { front: number === -1 });
        responses.push(response);
        if (Object.keys(response.node_errors ?? {}).length) this.errors.showValidation(response);
      } catch (error) {
        this.errors.showValidation(error.response ?? { error: { message: error.message } });
        this.toast(error.message, "error");
        responses.push({ error: error.response?.error ?? { message: error.message }, node_errors: error.response?.node_errors ?? {} });
        break;
      }
      for (const node of this.graph._nodes) {
        for (const widget of node.widgets ?? []) if (widget.isControlAfterGenerate) applyControlAfterGenerate(node, widget);
      }
      this.canvas.setDirty(true, true);
    }
    this.changeTracker.check();
    this.queuePanel?.refresh();
    return responses.length === 1 ? responses[0] : responses;
  }

  /** Re-reads /object_info and refreshes every combo's choices (new models, uploads). */
  async refreshComboValues() {
    this.objectInfo = await this.api.getObjectInfo();
    for (const node of this.graph._nodes) {
      const definition = this.objectInfo[node.comfyClass ?? node.type];
      if (!definition) continue;
      for (const widget of node.widgets ?? []) {
        if (widget.type !== "combo" || widget.isControlAfterGenerate) continue;
        const spec = definition.input?.required?.[widget.name] ?? definition.input?.optional?.[widget.name];
        if (!spec) continue;
        const parsed = parseInputSpec(spec);
        if (parsed.comboValues) {
          const keep = widget.value;
          setComboValues(widget, parsed.comboValues);
          if (parsed.comboValues.includes(keep)) widget.value = keep;
        }
      }
    }
    this.canvas.setDirty(true, true);
  }

  /** Lays an API-format prompt out as a graph (a file or PNG that carries only a prompt). */
  async loadApiPrompt(prompt) {
    await this.loadGraphData({ nodes: [], links: [], groups: [], version: 0.4 });
    const created = new Map();
    Object.entries(prompt).forEach(([id, entry], index) => {
      const node = LiteGraph.createNode(entry.class_type);
      if (!node) return;
      node.pos = [60 + (index % 5) * 340, 60 + Math.floor(index / 5) * 360];
      if (entry._meta?.title) node.title = entry._meta.title;
      this.graph.add(node);
      created.set(id, node);
      for (const [name, value] of Object.entries(entry.inputs ?? {})) {
        const widget = node.widgets?.find((w) => w.name === name);
        if (widget && !(Array.isArray(value) && typeof value[0] === "string")) widget.value = value?.__value__ ?? value;
      }
      for (const widget of node.widgets ?? []) if (widget.isControlAfterGenerate) widget.value = "fixed";
    });
    for (const [id, entry] of Object.entries(prompt)) {
      for (const [name, value] of Object.entries(entry.inputs ?? {})) {
        if (!(Array.isArray(value) && value.length === 2 && typeof value[0] === "string")) continue;
        const origin = created.get(value[0]);
        const target = created.get(id);
        if (origin && target) origin.connect(value[1], target, name);
      }
    }
    this.fitView();
    this.canvas.setDirty(true, true);
    this.changeTracker.reset();
    this.autosave();
  }

  /** Adds a node of `type` at canvas position `pos` (default: the view centre). */
  addNode(type, pos = null) {
    const node = LiteGraph.createNode(type);
    if (!node) throw new Error(`unknown node type ${type}`);
    const [x, y] = pos ?? this.viewCenter();
    node.pos = [x, y];
    this.graph.add(node);
    this.canvas.selectNode?.(node);
    this.changeTracker.check();
    return node;
  }

  viewCenter() {
    const { clientWidth, clientHeight } = this.elements.canvas;
    const [x, y] = this.canvas.ds.convertCanvasToOffset([clientWidth / 2, clientHeight / 2]);
    return [x - 100, y - 60];
  }

  focusNode(nodeId) {
    const node = this.graph.getNodeById(Number(nodeId)) ?? this.graph.getNodeById(nodeId);
    if (!node) return;
    this.canvas.centerOnNode?.(node);
    this.canvas.selectNode?.(node);
    this.canvas.setDirty(true, true);
  }

  selectedNodes() {
    const items = this.canvas.selectedItems ? [...this.canvas.selectedItems] : Object.values(this.canvas.selected_nodes ?? {});
    return items.filter((item) => item instanceof LGraphNode);
  }

  /** Wraps the selected nodes in a new group. */
  groupSelected() {
    const selected = this.selectedNodes();
    if (!selected.length) return null;
    const group = new LGraphGroup("Group");
    this.graph.add(group);
    for (const node of selected) node.updateArea(this.canvas.ctx); // nodes not drawn yet have no bounds
    group.resizeTo(selected, 10);
    this.changeTracker.check();
    return group;
  }

  convertWidgetToInput(node, name) { const done = convertWidgetToInput(node, name); this.changeTracker.check(); return done; }

  convertInputToWidget(node, name) { const done = convertInputToWidget(node, name); this.changeTracker.check(); return done; }

  /** Toggles mute (2) or bypass (4) on the selected nodes. */
  toggleMode(mode) {
    const selected = this.selectedNodes();
    const allSet = selected.every((node) => node.mode === mode);
    for (const node of selected) node.mode = allSet ? 0 : mode;
    this.canvas.setDirty(true, true);
    this.changeTracker.check();
  }

  // The UI layer replaces these three.
  toast(message) { console.info(message); }
  setStatusText() {}
  setProgress() {}
}
