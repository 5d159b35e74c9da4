// Converting a widget to an input socket and back.
//
// Every widget already has a widget-input socket (litegraph draws it on the widget row and shows
// it while a link is dragged; linking it greys the widget out). "Convert to input" goes further,
// as ComfyUI's menu did: the widget is hidden and its socket becomes a plain, always-visible input,
// so the value must come from a link. The converted names are kept in `properties.convertedWidgets`
// so the state survives save/load; saved inputs keep ComfyUI's `widget: {name}` marker.

const PROPERTY = "convertedWidgets";

function convertedNames(node) {
  const names = node.properties?.[PROPERTY];
  return Array.isArray(names) ? names : [];
}

function hideWidget(widget) {
  widget.hidden = true;
  widget.convertedToInput = true;
  widget.computeSize = () => [0, -4];
}

function showWidget(widget) {
  widget.hidden = false;
  widget.convertedToInput = false;
  delete widget.computeSize;
}

function companions(node, widget) {
  return (node.widgets ?? []).filter((w) => w.targetWidget === widget);
}

function refresh(node) {
  node.setSize([node.size[0], Math.max(node.computeSize()[1], 40)]);
  node.setDirtyCanvas?.(true, true);
}

/** Hides `name`'s widget and turns its socket into a plain input. */
export function convertWidgetToInput(node, name) {
  const widget = node.widgets?.find((w) => w.name === name);
  const slot = node.inputs?.find((s) => s.widget?.name === name || (s.name === name && s.convertedWidget));
  if (!widget || !slot || widget.convertedToInput) return false;
  hideWidget(widget);
  for (const companion of companions(node, widget)) hideWidget(companion);
  delete slot.widget;
  slot.convertedWidget = name;
  node.properties[PROPERTY] = [...new Set([...convertedNames(node), name])];
  refresh(node);
  return true;
}

/** Shows `name`'s widget again; a link into the socket is removed. */
export function convertInputToWidget(node, name) {
  const widget = node.widgets?.find((w) => w.name === name);
  const index = node.inputs?.findIndex((s) => s.convertedWidget === name) ?? -1;
  if (!widget || index < 0) return false;
  if (node.inputs[index].link != null) node.disconnectInput(index);
  const slot = node.inputs[index];
  delete slot.convertedWidget;
  slot.widget = { name };
  showWidget(widget);
  for (const companion of companions(node, widget)) showWidget(companion);
  node.properties[PROPERTY] = convertedNames(node).filter((n) => n !== name);
  refresh(node);
  return true;
}

/** Re-applies saved conversions after a node is configured from JSON. */
export function applyConvertedWidgets(node) {
  for (const name of convertedNames(node)) {
    const widget = node.widgets?.find((w) => w.name === name);
    const slot = node.inputs?.find((s) => s.widget?.name === name || s.name === name);
    if (!widget || !slot) continue;
    hideWidget(widget);
    for (const companion of companions(node, widget)) hideWidget(companion);
    delete slot.widget;
    slot.convertedWidget = name;
  }
}

/** A link into a widget's socket converts that widget, so every converted input looks the same
 *  (a labelled input, the widget hidden), whether made by the menu, a dropped link or a loaded
 *  ComfyUI workflow. */
export function convertLinkedWidgets(node) {
  for (const slot of [...(node.inputs ?? [])]) {
    if (slot.widget?.name && slot.link != null) convertWidgetToInput(node, slot.widget.name);
  }
}

/** Keeps ComfyUI's `widget: {name}` marker on converted inputs in the saved JSON. */
export function markConvertedInputs(node, serialised) {
  for (const input of serialised.inputs ?? []) {
    if (convertedNames(node).includes(input.name)) input.widget = { name: input.name };
  }
}

/** Node context-menu entries: "Convert X to input" / "Convert X to widget". */
export function widgetConversionMenu(node) {
  const entries = [];
  for (const widget of node.widgets ?? []) {
    if (widget.isControlAfterGenerate || widget.isUploadButton || !widget.name) continue;
    const hasSocket = node.inputs?.some((s) => s.widget?.name === widget.name || s.convertedWidget === widget.name);
    if (!hasSocket) continue;
    entries.push(widget.convertedToInput
      ? { content: `Convert ${widget.name} to widget`, callback: () => convertInputToWidget(node, widget.name) }
      : { content: `Convert ${widget.name} to input`, callback: () => convertWidgetToInput(node, widget.name) });
  }
  return entries;
}
