// Inputs that only some model families use. In /object_info such an input lists its `families`
// (e.g. VLMCaption's min_pixels: the Qwen-VL families), and a loader's model combo maps each model
// to its family (`choice_families`). While the model reaching a node is of another family, the
// node's widget for that input is hidden and a socket input is labelled as unused; with no loader
// connected, or a model of unknown family, everything shows.
//
// Shared by the Plexus editor (nodes.js) and ComfyUI's official frontend (plexus_extras.js): both
// draw litegraph nodes, so the check runs as each such node is drawn and acts only on a change.

const UNUSED = / \(not used by .*\)$/;

function inputOptions(nodeData) {
  const options = {};
  for (const section of ["required", "optional"]) {
    for (const [name, spec] of Object.entries(nodeData?.input?.[section] ?? {})) {
      if (Array.isArray(spec) && spec[1] && typeof spec[1] === "object") options[name] = spec[1];
    }
  }
  return options;
}

/** [input name, families] of a node definition's family-specific inputs. */
export function familyInputs(nodeData) {
  return Object.entries(inputOptions(nodeData))
    .filter(([, options]) => Array.isArray(options.families))
    .map(([name, options]) => [name, options.families]);
}

function linkOf(graph, id) {
  if (id == null || !graph) return null;
  return graph.getLink?.(id) ?? graph.links?.get?.(id) ?? graph.links?.[id] ?? null;
}

const ownDefinition = (node) => node.constructor?.nodeData;

/** The family of the model chosen on the loader feeding `node` (through reroutes), or null.
 *  `definitionOf(node)` gives a node's /object_info entry. */
export function upstreamFamily(node, definitionOf = ownDefinition, depth = 0) {
  if (!node?.graph || depth > 8) return null;
  for (const slot of node.inputs ?? []) {
    const link = linkOf(node.graph, slot.link);
    const source = link ? node.graph.getNodeById(link.origin_id) : null;
    if (!source) continue;
    if (source.type === "Reroute") {
      const family = upstreamFamily(source, definitionOf, depth + 1);
      if (family) return family;
      continue;
    }
    const options = inputOptions(definitionOf(source));
    for (const widget of source.widgets ?? []) {
      const families = options[widget.name]?.choice_families;
      if (families && typeof families === "object") return families[widget.value] ?? null;
    }
  }
  return null;
}

function showWidget(widget, shown) {
  if (widget.convertedToInput) return; // a converted widget stays hidden: its value comes from a link
  if (shown) {
    widget.hidden = false;
    if (widget.familyHidden) delete widget.computeSize;
    delete widget.familyHidden;
  } else {
    widget.hidden = true;
    widget.familyHidden = true;
    widget.computeSize = () => [0, -4];
  }
}

function markSocket(slot, family) {
  const base = (slot.label ?? slot.name).replace(UNUSED, "");
  if (family) slot.label = `${base} (not used by ${family})`;
  else if (slot.label != null && UNUSED.test(slot.label)) {
    if (base === slot.name) delete slot.label;
    else slot.label = base;
  }
}

/** Shows or hides `node`'s family-specific inputs for the family reaching it now. Returns whether
 *  anything changed (the caller redraws). */
export function applyFamilyInputs(node, inputs, definitionOf = ownDefinition) {
  if (!inputs.length) return false;
  const family = upstreamFamily(node, definitionOf);
  if (node.familyShown === family) return false;
  node.familyShown = family;
  for (const [name, families] of inputs) {
    const used = family == null || families.includes(family);
    const widget = node.widgets?.find((w) => w.name === name);
    if (widget) showWidget(widget, used);
    const socket = node.inputs?.find((s) => s.name === name && !s.widget);
    if (socket && !widget) markSocket(socket, used ? null : family);
  }
  const height = node.computeSize?.()[1];
  if (height) node.setSize?.([node.size[0], height]);
  node.setDirtyCanvas?.(true, true);
  return true;
}

/** Makes a node type re-check its family-specific inputs whenever one of its nodes is drawn. */
export function watchFamilyInputs(nodeType, nodeData, definitionOf = ownDefinition) {
  const inputs = familyInputs(nodeData);
  if (!inputs.length) return;
  const draw = nodeType.prototype.onDrawBackground;
  nodeType.prototype.onDrawBackground = function (...args) {
    applyFamilyInputs(this, inputs, definitionOf);
    return draw?.apply(this, args);
  };
}
