// Plexus's extras in ComfyUI's official frontend (served only when that frontend is at "/").
// - PreviewText shows its text on the node (the frontend draws text only for PreviewAny/SaveText).
// - Streamed text (VLM tokens arrive as pieces) accumulates on the node instead of showing only
//   the last piece.
// - execution_restarted (a cluster worker was lost and the job runs again) starts the streamed
//   text over, and is a known message (no "unknown message" log).
// It does nothing in the Plexus editor, which has these features itself.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const TEXT_NODE_TYPES = new Set(["PreviewText"]);
const STREAM_WIDGET = "$$node-text-preview";

function findNode(nodeId) {
  const id = String(nodeId).split(":").pop();
  return app.graph?.getNodeById?.(Number(id)) ?? app.graph?.getNodeById?.(id) ?? null;
}

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
  api.addEventListener("execution_restarted", () => streamed.clear());
  api.addEventListener("progress_text", ({ detail }) => {
    if (!detail?.nodeId || !detail.text) return;
    const text = (streamed.get(detail.nodeId) ?? "") + detail.text;
    streamed.set(detail.nodeId, text);
    setTimeout(() => {  // after the frontend's own handler, which shows only this piece
      const widget = findNode(detail.nodeId)?.widgets?.find((w) => w.name === STREAM_WIDGET);
      if (widget) widget.value = text;
    }, 0);
  });

  app.registerExtension({
    name: "plexus.extras",
    beforeRegisterNodeDef(nodeType, nodeData) {
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
