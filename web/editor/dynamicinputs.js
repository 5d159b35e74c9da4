// ComfyUI's dynamic inputs, named as frontend 1.58.1 names them so prompts and workflows match:
// - COMFY_DYNAMICCOMBO_V3: a combo whose chosen option adds its own widgets (and sockets) right
//   after it, named "<combo>.<input>" (SaveImageAdvanced's "format.bit_depth").
// - COMFY_AUTOGROW_V3: numbered sockets "<input>.<prefix><n>" (BatchImagesNode's "images.image0");
//   there is always one free socket after the last connected one, up to the template's max.

import { addInputWidget, isWidgetType, parseInputSpec } from "./widgets.js";

export const DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3";
export const AUTOGROW = "COMFY_AUTOGROW_V3";

export function isDynamicInput({ type }) {
  return type === DYNAMIC_COMBO || type === AUTOGROW;
}

export function addDynamicInput(node, name, parsed, env) {
  if (parsed.type === DYNAMIC_COMBO) addDynamicCombo(node, name, parsed, env);
  else addAutogrow(node, name, parsed);
}

function specEntries(inputs) {
  const entries = [];
  for (const section of ["required", "optional"]) {
    for (const [name, spec] of Object.entries(inputs?.[section] ?? {})) entries.push({ name, spec, optional: section === "optional" });
  }
  return entries;
}

function removeGroup(node, prefix) {
  for (const widget of (node.widgets ?? []).filter((w) => w.name.startsWith(prefix))) {
    widget.onRemove?.();
    node.removeWidget(widget);
  }
  for (let index = (node.inputs ?? []).length - 1; index >= 0; index--) {
    if (node.inputs[index].name.startsWith(prefix)) node.removeInput(index);
  }
}

function addDynamicCombo(node, name, parsed, env) {
  const choices = Object.fromEntries((parsed.options.options ?? []).map(({ key, inputs }) => [key, inputs]));
  const keys = Object.keys(choices);
  const { default: initial, tooltip } = parsed.options;
  const combo = addInputWidget(node, name, { type: "COMBO", options: { default: initial, tooltip }, comboValues: keys }, env);
  let shown;
  const showOption = (key) => {
    if (key === shown) return;
    shown = key;
    removeGroup(node, `${name}.`);
    const firstNew = node.widgets.length;
    for (const { name: sub, spec, optional } of specEntries(choices[key])) {
      const subParsed = parseInputSpec(spec);
      if (isWidgetType(subParsed)) addInputWidget(node, `${name}.${sub}`, subParsed, env);
      else node.addInput(`${name}.${sub}`, subParsed.type, optional ? { shape: 7 } : {});
    }
    const added = node.widgets.splice(firstNew);
    node.widgets.splice(node.widgets.indexOf(combo) + 1, 0, ...added);
    if (node.graph) node.setSize([node.size[0], node.computeSize()[1]]);
    node.setDirtyCanvas?.(true, true);
  };
  let value = combo.value;
  Object.defineProperty(combo, "value", {
    configurable: true,
    get: () => value,
    set: (next) => { value = next; showOption(next); },
  });
  combo.isDynamicCombo = true;
  showOption(value);
}

/** Before litegraph assigns `widgets_values` by position, each DynamicCombo shows the option its
 *  saved value names, so the values that follow land on that option's widgets. */
export function prepareDynamicWidgets(node, widgetsValues) {
  if (!Array.isArray(widgetsValues)) return;
  for (const combo of (node.widgets ?? []).filter((w) => w.isDynamicCombo)) {
    const position = node.widgets.filter((w) => w.serialize !== false).indexOf(combo);
    const saved = widgetsValues[position];
    if (position >= 0 && combo.options.values.includes(saved)) combo.value = saved;
  }
}

function addAutogrow(node, name, parsed) {
  const { input, prefix = "", min = 1, max = 100, names } = parsed.options.template ?? {};
  const [template] = specEntries(input);
  const group = {
    name, type: parseInputSpec(template.spec).type, min, max: names?.length ?? max,
    socket: (ordinal) => `${name}.${names ? names[ordinal] : prefix + ordinal}`,
  };
  node.autogrowGroups = [...(node.autogrowGroups ?? []), group];
  for (let ordinal = 0; ordinal < Math.min(min + 1, group.max); ordinal++) addSocket(node, group, ordinal);
}

function addSocket(node, group, ordinal) {
  let free = ordinal; // a saved workflow may hold any numbers: take the first one not in use
  while (node.inputs?.some((slot) => slot.name === group.socket(free))) free++;
  node.addInput(group.socket(free), group.type, free >= group.min ? { shape: 7 } : {});
}

/** After a link change: one free socket after the last connected one (at least min + 1 sockets). */
export function updateAutogrow(node) {
  if (node.updatingAutogrow) return; // removing a socket disconnects it, which calls back here
  node.updatingAutogrow = true;
  try {
    for (const group of node.autogrowGroups ?? []) {
      const members = node.inputs.filter((slot) => slot.name.startsWith(`${group.name}.`));
      const lastLinked = members.findLastIndex((slot) => slot.link != null);
      const wanted = Math.min(group.max, Math.max(group.min + 1, lastLinked + 2));
      for (let ordinal = members.length; ordinal < wanted; ordinal++) addSocket(node, group, ordinal);
      for (const extra of members.slice(wanted).reverse()) node.removeInput(node.inputs.indexOf(extra));
    }
  } finally {
    node.updatingAutogrow = false;
  }
}
