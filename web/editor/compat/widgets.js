// ComfyUI's "scripts/widgets.js" for pack extensions, on the Plexus editor's widgets.
// ComfyWidgets[TYPE](node, inputName, inputData, app) adds one widget (no input socket) and
// returns { widget }; inputData is an /object_info spec such as ["INT", { default: 1, min: 0 }].
import { CONTROL_MODES, addNumberWidget, parseInputSpec } from "../widgets.js";
import { TextAreaOverlay } from "../textarea.js";
import { addImageUpload } from "../imageupload.js";

const editor = (app) => app ?? window.app;

function stringWidget(node, inputName, inputData, app) {
  const { options } = parseInputSpec(inputData);
  if (options.multiline) {
    const widget = node.addCustomWidget(new TextAreaOverlay(inputName, options.default ?? "", editor(app).overlayHost));
    return { widget, minWidth: 400, minHeight: 200 };
  }
  return { widget: node.addWidget("text", inputName, options.default ?? "", () => {}, {}) };
}

export const ComfyWidgets = {
  INT(node, inputName, inputData) {
    return { widget: addNumberWidget(node, inputName, parseInputSpec(inputData), true) };
  },
  FLOAT(node, inputName, inputData) {
    return { widget: addNumberWidget(node, inputName, parseInputSpec(inputData), false) };
  },
  BOOLEAN(node, inputName, inputData) {
    const { options } = parseInputSpec(inputData);
    return { widget: node.addWidget("toggle", inputName, options.default ?? false, () => {},
                                    { on: options.label_on ?? "true", off: options.label_off ?? "false" }) };
  },
  STRING: stringWidget,
  MARKDOWN(node, inputName, inputData, app) {
    const [, options = {}] = inputData;
    return stringWidget(node, inputName, ["STRING", { ...options, multiline: true }], app);
  },
  COMBO(node, inputName, inputData) {
    const parsed = parseInputSpec(inputData);
    const values = parsed.comboValues ?? [];
    return { widget: node.addWidget("combo", inputName, parsed.options.default ?? values[0] ?? "", () => {}, { values }) };
  },
  IMAGEUPLOAD(node, inputName, inputData, app) {
    const target = inputData?.[1]?.imageInputName ?? "image";
    const combo = node.widgets?.find((w) => w.name === target);
    if (!combo) throw new Error(`IMAGEUPLOAD: node has no "${target}" combo widget`);
    addImageUpload(node, combo, editor(app));
    return { widget: node.widgets[node.widgets.length - 1] };
  },
};

/** The seed's "control after generate" companion; the editor applies it after each queue. */
export function addValueControlWidgets(node, targetWidget, defaultValue = "randomize", options = {}) {
  const name = options?.controlAfterGenerateName ?? "control_after_generate";
  const control = node.addWidget("combo", name, defaultValue, () => {}, { values: CONTROL_MODES });
  control.targetWidget = targetWidget;
  control.isControlAfterGenerate = true;
  targetWidget.linkedWidgets = [...(targetWidget.linkedWidgets ?? []), control];
  return [control];
}

export function addValueControlWidget(node, targetWidget, defaultValue = "randomize", values, widgetName) {
  return addValueControlWidgets(node, targetWidget, defaultValue, { controlAfterGenerateName: widgetName })[0];
}

export function updateControlWidgetLabel(widget) {
  widget.label = widget.name;
}
