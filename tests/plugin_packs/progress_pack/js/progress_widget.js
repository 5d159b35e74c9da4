// A ComfyUI-style frontend extension, as pack authors write it.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "test.progress_pack",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "TestCountWithProgress") {
      nodeType.prototype.color = "#335";
    }
  },
});
