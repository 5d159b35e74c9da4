// Graph -> API-format prompt ({id: {class_type, inputs, _meta}}), following ComfyUI's rules:
// widget values become constant inputs, links become ["id", slot], muted nodes (mode 2) are
// dropped, bypassed nodes (mode 4) pass their first type-matching input through, and the
// frontend-only nodes (Reroute, PrimitiveNode, notes) are resolved or skipped.

export const MODE_MUTED = 2;
export const MODE_BYPASSED = 4;

export function getLink(graph, linkId) {
  if (linkId == null) return null;
  const links = graph.links;
  return (links instanceof Map ? links.get(linkId) : links?.[linkId]) ?? graph._links?.get?.(linkId) ?? null;
}

function typesOverlap(a, b) {
  if (!a || !b || a === "*" || b === "*") return true;
  const left = String(a).split(",");
  return String(b).split(",").some((type) => left.includes(type));
}

/** Follows a link upstream to `[nodeId, slot]`, `{constant}`, or null (nothing feeds it). */
export function resolveLink(graph, linkId) {
  const seen = new Set();
  let link = getLink(graph, linkId);
  while (link && !seen.has(link.id)) {
    seen.add(link.id);
    const origin = graph.getNodeById(link.origin_id);
    if (!origin) return null;
    if (origin.type === "Reroute") {
      link = getLink(graph, origin.inputs?.[0]?.link);
      continue;
    }
    if (origin.type === "PrimitiveNode") {
      const widget = origin.widgets?.[0];
      return widget ? { constant: widget.value } : null;
    }
    if (origin.mode === MODE_MUTED) return null;
    if (origin.mode === MODE_BYPASSED) {
      const wanted = origin.outputs?.[link.origin_slot]?.type ?? link.type;
      const passThrough = origin.inputs?.find((slot) => slot.link != null && typesOverlap(slot.type, wanted));
      link = passThrough ? getLink(graph, passThrough.link) : null;
      continue;
    }
    return [String(origin.id), link.origin_slot];
  }
  return null;
}

function widgetValueForPrompt(value) {
  return Array.isArray(value) ? { __value__: value } : value;
}

/** Is this widget a real input, rather than a UI-only extra? */
function isPromptWidget(widget) {
  // A widget converted to an input gives its value only through a link (as in ComfyUI).
  return !widget.isControlAfterGenerate && !widget.isUploadButton && !widget.convertedToInput
    && widget.serializeToPrompt !== false && widget.name;
}

/** Builds the API prompt for the graph; `workflow` is the editor JSON saved alongside it. */
export function graphToPrompt(graph, { isServerType }) {
  const workflow = graph.serialize();
  for (const node of workflow.nodes ?? []) {
    for (const slot of node.inputs ?? []) delete slot.hasErrors;
  }
  const output = {};
  const nodes = graph.computeExecutionOrder?.(false) ?? graph._nodes;
  for (const node of nodes) {
    if (node.isVirtualNode || node.mode === MODE_MUTED || node.mode === MODE_BYPASSED) continue;
    const classType = node.comfyClass ?? node.type;
    if (!isServerType(classType)) continue;
    const inputs = {};
    for (const widget of node.widgets ?? []) {
      if (isPromptWidget(widget)) inputs[widget.name] = widgetValueForPrompt(widget.value);
    }
    for (const slot of node.inputs ?? []) {
      if (slot.link == null) continue;
      const resolved = resolveLink(graph, slot.link);
      const name = slot.widget?.name ?? slot.name;
      if (resolved === null) delete inputs[name];
      else if (Array.isArray(resolved)) inputs[name] = resolved;
      else inputs[name] = widgetValueForPrompt(resolved.constant);
    }
    output[String(node.id)] = { class_type: classType, inputs, _meta: { title: node.title } };
  }
  // Drop links to nodes that were skipped (unknown or virtual types that resolved to nothing).
  for (const entry of Object.values(output)) {
    for (const [name, value] of Object.entries(entry.inputs)) {
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && !(value[0] in output)) delete entry.inputs[name];
    }
  }
  return { output, workflow };
}
