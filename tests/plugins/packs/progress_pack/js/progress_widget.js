// A ComfyUI-style frontend extension, as pack authors write it.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

app.registerExtension({
  name: "test.progress_pack",
  async setup() {
    window.progressPackExtension = "loaded";
    window.progressPackMessages = [];
    api.addEventListener("progress_pack.done", (event) => {
      window.progressPackMessages.push(event.detail);
    });
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "TestCountWithProgress") {
      nodeType.color = "#335";
    }
  },
});
