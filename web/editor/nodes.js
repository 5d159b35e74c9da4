// Registers one litegraph node type per /object_info entry, plus the frontend-only nodes
// (Note, MarkdownNote, Reroute, PrimitiveNode) that ComfyUI workflows contain.

import { LiteGraph, LGraphNode } from "../lib/litegraph/litegraph.es.js";
import { addInputWidget, isWidgetType, parseInputSpec } from "./widgets.js";
import { drawNodeRunState } from "./nodedraw.js";
import { addDynamicInput, isDynamicInput, prepareDynamicWidgets, updateAutogrow } from "./dynamicinputs.js";
import { watchFamilyInputs } from "./familyoptions.js";
import { MarkdownOverlay, TextAreaOverlay } from "./textarea.js";
import { applyConvertedWidgets, convertLinkedWidgets, convertWidgetToInput, markConvertedInputs, widgetConversionMenu } from "./widgetinputs.js";

export const VIRTUAL_NODE_TYPES = new Set(["Note", "MarkdownNote", "Reroute", "PrimitiveNode"]);

/** Input names in declaration order: `input_order` when the server sends it. */
function orderedInputs(definition) {
  const sections = [];
  for (const section of ["required", "optional"]) {
    const specs = definition.input?.[section] ?? {};
    const order = definition.input_order?.[section] ?? Object.keys(specs);
    for (const name of order) if (name in specs) sections.push({ name, spec: specs[name], optional: section === "optional" });
  }
  return sections;
}

/** Adds sockets and widgets to a fresh node from its definition. */
function buildNode(node, definition, env) {
  for (const { name, spec, optional } of orderedInputs(definition)) {
    const parsed = parseInputSpec(spec);
    if (isDynamicInput(parsed)) {
      addDynamicInput(node, name, parsed, env);
    } else if (isWidgetType(parsed)) {
      addInputWidget(node, name, parsed, env);
    } else {
      const slot = node.addInput(name, parsed.type, optional ? { shape: 7 } : {});
      if (parsed.options?.tooltip) slot.tooltip = parsed.options.tooltip;
    }
  }
  const outputNames = definition.output_name ?? definition.output ?? [];
  (definition.output ?? []).forEach((type, index) => {
    const outputType = Array.isArray(type) ? "COMBO" : type;
    node.addOutput(outputNames[index] ?? outputType, outputType, definition.output_is_list?.[index] ? { shape: 6 } : {});
  });
  node.serialize_widgets = true;
  const size = node.computeSize();
  node.setSize([Math.max(size[0], 220), size[1]]);
}

/** Makes sure every widget has its widget-input socket after loading an older workflow that
 *  only listed converted inputs; slots are appended so saved link indices stay valid. */
function reconcileWidgetSockets(node) {
  for (const widget of node.widgets ?? []) {
    if (widget.isControlAfterGenerate || widget.isUploadButton || widget.convertedToInput) continue;
    if (node.inputs.some((slot) => slot.widget?.name === widget.name || slot.name === widget.name && slot.link != null)) {
      const slot = node.inputs.find((s) => s.name === widget.name);
      if (slot && !slot.widget) slot.widget = { name: widget.name };
      continue;
    }
    const socketType = widget.type === "combo" ? "COMBO" : widget.socketType ?? widgetSocketType(widget);
    node.addInput(widget.name, socketType, { widget: { name: widget.name } });
  }
}

function widgetSocketType(widget) {
  if (widget.type === "toggle") return "BOOLEAN";
  if (widget.type === "number") return widget.options?.precision === 0 ? "INT" : "FLOAT";
  return "STRING";
}

/** Registers every server node type. `env` carries the overlay host, the image-upload hook,
 *  and the extension hooks. Returns the list of registered names. */
export function registerServerNodes(objectInfo, env) {
  const names = [];
  for (const [name, definition] of Object.entries(objectInfo)) {
    class ServerNode extends LGraphNode {
      static comfyClass = name;
      static nodeData = definition;
      constructor(title) {
        super(title ?? definition.display_name ?? name);
        this.comfyClass = name;
        buildNode(this, definition, env);
      }

      /** Saved slot lists replace the constructor's (litegraph would merge them index by index,
       *  which scrambles workflows that list only linked inputs). */
      configure(info) {
        if (Array.isArray(info.inputs)) this.inputs = [];
        if (Array.isArray(info.outputs)) this.outputs = [];
        prepareDynamicWidgets(this, info.widgets_values);
        this.configuring = true; // links are converted once, in onConfigure, after the properties
        try { super.configure(info); } finally { this.configuring = false; }
      }

      onConnectionsChange(type, index, connected) {
        if (this.configuring || type !== LiteGraph.INPUT) return;
        if (this.autogrowGroups) updateAutogrow(this);
        if (!connected) return;
        const slot = this.inputs?.[index];
        if (slot?.widget?.name) convertWidgetToInput(this, slot.widget.name);
      }

      /** Called by LiteGraph.createNode once `type` is set: the extensions' nodeCreated hook. */
      onNodeCreated() { env.onNodeCreated?.(this); }

      onConfigure(info) {
        applyConvertedWidgets(this);
        reconcileWidgetSockets(this);
        convertLinkedWidgets(this);
        env.onNodeConfigured?.(this, info);
      }

      onSerialize(serialised) { markConvertedInputs(this, serialised); }

      getExtraMenuOptions() { return widgetConversionMenu(this); }

      onAdded() {
        for (const widget of this.widgets ?? []) widget.attachTo?.(this);
      }

      onRemoved() {
        for (const widget of this.widgets ?? []) widget.onRemove?.();
      }
    }
    ServerNode.title = definition.display_name || name;
    ServerNode.prototype.onDrawForeground = drawNodeRunState;
    watchFamilyInputs(ServerNode, definition); // inputs only some model families use
    env.beforeRegisterNodeDef?.(ServerNode, definition);
    LiteGraph.registerNodeType(name, ServerNode);
    ServerNode.category = definition.category ?? "";
    ServerNode.description = definition.description ?? "";
    if (definition.output_node) ServerNode.prototype.isOutputNode = true;
    names.push(name);
  }
  return names;
}

/** Frontend-only nodes; they never reach the server (prompt.js resolves them). */
export function registerVirtualNodes(env) {
  for (const noteType of ["Note", "MarkdownNote"]) {
    class NoteNode extends LGraphNode {
      constructor(title) {
        super(title ?? noteType);
        this.isVirtualNode = true;
        this.serialize_widgets = true;
        this.color = "#432";
        this.bgcolor = "#653";
        const Overlay = noteType === "MarkdownNote" ? MarkdownOverlay : TextAreaOverlay; // Note stays plain text
        this.addCustomWidget(new Overlay("text", "", env.overlayHost));
        this.setSize([400, 140]);
      }
      onAdded() { for (const widget of this.widgets ?? []) widget.attachTo?.(this); }
      onRemoved() { for (const widget of this.widgets ?? []) widget.onRemove?.(); }
    }
    NoteNode.title = noteType;
    LiteGraph.registerNodeType(noteType, NoteNode);
    NoteNode.category = "utils";
    NoteNode.description = "A text note on the canvas; it does not run.";
  }

  class RerouteNode extends LGraphNode {
    constructor(title) {
      super(title ?? "Reroute");
      this.isVirtualNode = true;
      this.addInput("", "*");
      this.addOutput("", "*");
      this.setSize([75, 26]);
    }
    onConnectionsChange() {
      // Adopt the type flowing in, so downstream type checks still work.
      const link = this.inputs[0].link != null ? this.graph?.links.get?.(this.inputs[0].link) ?? this.graph?.links[this.inputs[0].link] : null;
      this.outputs[0].type = link?.type ?? "*";
    }
  }
  RerouteNode.title = "Reroute";
  RerouteNode.title_mode = LiteGraph.NO_TITLE;
  LiteGraph.registerNodeType("Reroute", RerouteNode);
  RerouteNode.category = "utils";
  RerouteNode.description = "Passes a link through, to tidy the canvas.";

  class PrimitiveNode extends LGraphNode {
    constructor(title) {
      super(title ?? "Primitive");
      this.isVirtualNode = true;
      this.serialize_widgets = true;
      this.addOutput("connect to widget input", "*");
      this.setSize([220, 60]);
    }
    onConnectionsChange() { this.adoptTarget(); }
    onConfigure(info) {
      this.savedValue = info.widgets_values?.[0];
      this.adoptTarget(); // its targets may not exist yet: loadGraphData asks again once all nodes do
    }
    /** Adopts the type and value of the first widget input it feeds. Every link is tried: the first
     *  may lead to a node type the server lacks, which has no widgets. */
    adoptTarget() {
      if (this.widgets?.length) return;
      for (const linkId of this.outputs[0].links ?? []) {
        const link = this.graph?.links.get?.(linkId) ?? this.graph?.links[linkId];
        const target = link ? this.graph.getNodeById(link.target_id) : null;
        const slot = target?.inputs?.[link.target_slot];
        const widgetName = slot?.widget?.name ?? slot?.convertedWidget;
        const targetWidget = widgetName ? target.widgets?.find((w) => w.name === widgetName) : null;
        if (!targetWidget) continue;
        this.outputs[0].type = slot.type;
        this.outputs[0].name = slot.type;
        const value = this.savedValue ?? targetWidget.value;
        const widget = this.addWidget(targetWidget.type, "value", value, () => {}, { ...targetWidget.options });
        widget.value = value;
        return;
      }
    }
  }
  PrimitiveNode.title = "Primitive";
  LiteGraph.registerNodeType("PrimitiveNode", PrimitiveNode);
  PrimitiveNode.category = "utils";
  PrimitiveNode.description = "One constant that can feed several widget inputs.";
}
