// Plexus's extras in ComfyUI's official frontend (served only when that frontend is at "/").
// - PreviewText shows its text on the node (the frontend draws text only for PreviewAny/SaveText).
// - Streamed text accumulates on the node: Plexus sends node text in pieces (VLM tokens), this
//   frontend shows each progress_text as the whole text, so the pieces are joined before it sees them.
// - execution_restarted (a cluster worker was lost and the job runs again) starts the streamed
//   text over, and node warnings (Plexus's "warning" message) show as toasts: both are known
//   messages then (this frontend logs an error for message types nobody listens to).
// - Inputs that only some model families use (VLMCaption's min_pixels...) are hidden while the
//   model reaching the node is of another family, as in the Plexus editor (familyoptions.js).
// It does nothing in the Plexus editor, which has these features itself.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { watchFamilyInputs } from "/plexus/editor/familyoptions.js";

const TEXT_NODE_TYPES = new Set(["PreviewText"]);

function showOnNode(node, text) {
  const { ComfyWidgets } = window.comfyAPI?.widgets ?? {};
  let widget = node.widgets?.find((w) => w.name === "plexus_text");
  if (!widget && ComfyWidgets?.STRING) {
    widget = ComfyWidgets.STRING(node, "plexus_text", ["STRING", { multiline: true }], app).widget;
    widget.serialize = false;
    if (widget.inputEl) widget.inputEl.readOnly = true;
  }
  if (!widget) return;
  widget.value = text;
  if (widget.inputEl) widget.inputEl.value = text;
  node.setDirtyCanvas?.(true, true);
}

if (window.comfyAPI) {
  const streamed = new Map();  // node id -> text so far in this run
  api.addEventListener("execution_start", () => streamed.clear());
  api.addEventListener("execution_restarted", () => streamed.clear());  // the job runs again from the start
  api.addEventListener("warning", ({ detail }) => {
    const node = detail?.node != null ? ` (node ${detail.node})` : "";
    app.extensionManager?.toast?.add({ severity: "warn", summary: `Warning${node}`, detail: String(detail?.message ?? ""),
                                       life: 8000 });
  });
  const dispatch = api.dispatchCustomEvent.bind(api);
  // Before any listener: the frontend's own handlers were registered before this extension loaded.
  api.dispatchCustomEvent = (type, detail) => {
    if (type === "progress_text" && detail?.nodeId && typeof detail.text === "string") {
      const text = (streamed.get(detail.nodeId) ?? "") + detail.text;
      streamed.set(detail.nodeId, text);
      detail = { ...detail, text };
    }
    return dispatch(type, detail);
  };

  const definitions = new Map();  // the /object_info entries, as this frontend reshapes its own copy
  const definitionOf = (node) => definitions.get(node.comfyClass ?? node.type);

  app.registerExtension({
    name: "plexus.extras",
    beforeRegisterNodeDef(nodeType, nodeData) {
      definitions.set(nodeData.name, nodeData);
      watchFamilyInputs(nodeType, nodeData, definitionOf);
      if (!TEXT_NODE_TYPES.has(nodeData.name)) return;
      const onExecuted = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (output) {
        onExecuted?.apply(this, arguments);
        const texts = output?.text;
        if (texts != null) showOnNode(this, Array.isArray(texts) ? texts.join("\n\n") : String(texts));
      };
    },
  });
}
