// Widgets for node inputs declared in /object_info: INT, FLOAT, STRING (single and multi-line),
// BOOLEAN, COMBO, the seed's control_after_generate companion and LoadImage's upload button.

import { TextAreaOverlay } from "./textarea.js";

export const CONTROL_MODES = ["fixed", "increment", "decrement", "randomize"];
const SEED_NAMES = new Set(["seed", "noise_seed"]);
const MAX_SEED = 0xffffffffffffffff;

/** Normalises an /object_info input spec to `{type, options, comboValues}`. */
export function parseInputSpec(spec) {
  const [rawType, options = {}] = Array.isArray(spec) ? spec : [spec, {}];
  if (Array.isArray(rawType)) return { type: "COMBO", options, comboValues: rawType };
  if (rawType === "COMBO") return { type: "COMBO", options, comboValues: options.options || [] };
  return { type: String(rawType), options, comboValues: null };
}

export function isWidgetType({ type, options }) {
  if (options?.forceInput) return false;
  return type === "COMBO" || type === "INT" || type === "FLOAT" || type === "STRING" || type === "BOOLEAN";
}

export function hasControlAfterGenerate(name, { type, options }) {
  return type === "INT" && (options?.control_after_generate || SEED_NAMES.has(name));
}

/** Decimal places implied by a FLOAT step (0.01 -> 2). */
function precisionOf(step) {
  const text = String(step ?? 0.01);
  return text.includes(".") ? Math.min(text.split(".")[1].length, 6) : 0;
}

function roundToStep(value, { min, step, round }) {
  const unit = round ?? step;
  if (!unit) return value;
  const base = Number.isFinite(min) ? min : 0;
  const rounded = Math.round((value - base) / unit) * unit + base;
  return Number(rounded.toFixed(precisionOf(unit) + 2));
}

export function addNumberWidget(node, name, parsed, isInteger) {
  const { options } = parsed;
  const step = options.step ?? (isInteger ? 1 : 0.01);
  const widgetOptions = {
    min: options.min ?? (isInteger ? -MAX_SEED : -Infinity),
    max: options.max ?? (isInteger ? MAX_SEED : Infinity),
    step: step * 10, // litegraph's number widget moves by step/10
    precision: isInteger ? 0 : precisionOf(options.round ?? step),
    round: isInteger ? 1 : options.round ?? step,
  };
  const initial = options.default ?? (isInteger ? 0 : 0.0);
  const widget = node.addWidget("number", name, initial, function onChange(value) {
    const snapped = roundToStep(Number(value), { min: options.min, step, round: isInteger ? Math.max(1, step) : options.round ?? step });
    if (snapped !== this.value) this.value = snapped;
  }, widgetOptions);
  return widget;
}

function addControlWidget(node, targetWidget) {
  const control = node.addWidget("combo", "control_after_generate", "randomize", () => {}, { values: CONTROL_MODES });
  control.targetWidget = targetWidget;
  control.isControlAfterGenerate = true;
  targetWidget.linkedWidgets = [control];
  return control;
}

/** Applies a control widget to its seed after a prompt was queued. */
export function applyControlAfterGenerate(node, control) {
  const target = control.targetWidget;
  if (!target || node.getSlotFromWidget?.(target)?.link != null) return;
  const { min = 0, max = MAX_SEED, step = 10 } = target.options;
  const unit = Math.max(1, step / 10);
  let value = target.value;
  switch (control.value) {
    case "increment": value += unit; break;
    case "decrement": value -= unit; break;
    case "randomize": {
      const upper = Math.min(max, 2 ** 50);
      value = Math.floor(Math.random() * ((upper - Math.max(min, 0)) / unit)) * unit + Math.max(min, 0);
      break;
    }
    default: return;
  }
  target.value = Math.min(Math.max(value, min), max);
}

/** Adds the widget(s) for one input and a matching widget-input socket. Returns the main widget. */
export function addInputWidget(node, name, parsed, env) {
  let widget;
  const { type, options } = parsed;
  if (type === "INT" || type === "FLOAT") {
    widget = addNumberWidget(node, name, parsed, type === "INT");
  } else if (type === "BOOLEAN") {
    widget = node.addWidget("toggle", name, options.default ?? false, () => {}, {
      on: options.label_on ?? "true", off: options.label_off ?? "false",
    });
  } else if (type === "STRING" && options.multiline) {
    widget = node.addCustomWidget(new TextAreaOverlay(name, options.default ?? "", env.overlayHost));
  } else if (type === "STRING") {
    widget = node.addWidget("text", name, options.default ?? "", () => {}, {});
  } else {
    const values = parsed.comboValues ?? [];
    const initial = options.default ?? values[0] ?? "";
    widget = node.addWidget("combo", name, initial, () => {}, { values });
    if (options.image_upload) env.addImageUpload?.(node, widget);
  }
  if (options.tooltip) widget.tooltip = options.tooltip;
  const socketType = type === "COMBO" ? "COMBO" : type;
  node.addInput(name, socketType, { widget: { name } });
  if (hasControlAfterGenerate(name, parsed)) addControlWidget(node, widget);
  return widget;
}

/** Replaces a combo widget's choices (e.g. after an upload or a model folder change). */
export function setComboValues(widget, values) {
  widget.options.values = values;
  if (!values.includes(widget.value) && values.length) widget.value = values[0];
}
