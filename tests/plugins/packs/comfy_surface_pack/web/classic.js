// Written for Plexus's tests: a pack extension using the classic ComfyUI frontend modules.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { ComfyWidgets, addValueControlWidget } from "../../scripts/widgets.js";
import { $el, ComfyDialog } from "../../scripts/ui.js";
import { addStylesheet, applyTextReplacements, clone } from "../../scripts/utils.js";

window.classicPack = { loaded: false };
app.registerExtension({
  name: "comfy_surface_pack.classic",
  async setup() {
    const node = app.addNode("SurfaceFacts");
    node.title = "Facts";
    const text = ComfyWidgets.STRING(node, "notes", ["STRING", { multiline: false, default: "hello" }], app).widget;
    const seed = ComfyWidgets.INT(node, "pack_seed", ["INT", { default: 7, min: 0, max: 100 }], app).widget;
    const control = addValueControlWidget(node, seed, "fixed");
    const badge = $el("div.classic-badge#classic-badge", { textContent: "classic", dataset: { pack: "surface" }, parent: document.body });
    const dialog = new ComfyDialog();
    dialog.show("<b>shown</b>");
    await addStylesheet("classic.js", import.meta.url).catch(() => {});
    window.classicPack = {
      loaded: true, sameApi: api === app.api, text: text.value, seed: seed.value, control: control.value,
      controlLinked: control.isControlAfterGenerate === true, inputs: node.inputs.length,
      badge: document.getElementById("classic-badge")?.dataset.pack, dialog: dialog.textElement.textContent,
      replaced: applyTextReplacements(app, "out_%Facts.notes%_%date:yyyy%"), year: String(new Date().getFullYear()),
      cloned: clone({ a: [1, 2] }), stylesheet: [...document.styleSheets].some((s) => (s.href ?? "").endsWith("/classic.css")),
    };
    badge.remove();
    dialog.close();
    app.graph.remove(node);
  },
});
