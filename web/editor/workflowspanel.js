// User storage: workflows saved on the server under user/<user>/workflows/ (/userdata API),
// among them every shipped workflow (`main.py demo` copies them there).

import { classifyWorkflowJson } from "./workflowio.js";

export class WorkflowsPanel {
  constructor(rootElement, app, currentName) {
    this.root = rootElement;
    this.app = app;
    this.currentName = currentName;
  }

  async save() {
    const name = (this.currentName() || "workflow").replace(/[\\/]/g, "_");
    const { workflow } = await this.app.graphToPrompt();
    await this.app.api.saveUserWorkflow(`${name}.json`, workflow);
    this.app.toast(`Saved ${name}.json`, "info");
    await this.refresh();
  }

  /** Opens a stored file as Open does: editor JSON as saved, an API prompt laid out; else says why not. */
  async load(fileName) {
    let opened;
    try {
      opened = classifyWorkflowJson(await this.app.api.readUserWorkflow(fileName));
    } catch (error) {
      this.app.toast(`Could not open ${fileName}: ${error.message}`, "error");
      return false;
    }
    if (opened.workflow) await this.app.loadGraphData(opened.workflow);
    else await this.app.loadApiPrompt(opened.prompt);
    this.app.fitView();
    this.app.canvas.setDirty(true, true);
    document.getElementById("workflow-name").value = fileName.replace(/\.json$/, "");
    return true;
  }

  async refresh() {
    const saveButton = document.createElement("button");
    saveButton.className = "workflow-save-server";
    saveButton.textContent = "Save to server";
    saveButton.addEventListener("click", () => this.save().catch((error) => this.app.toast(error.message, "error")));
    let names = [];
    try {
      names = await this.app.api.listUserWorkflows();
    } catch (error) {
      names = [];
    }
    const rows = names.filter((name) => typeof name === "string" && name.endsWith(".json")).sort().map((name) => {
      const row = document.createElement("div");
      row.className = "workflow-row";
      row.dataset.name = name;
      row.textContent = name;
      row.addEventListener("click", () => this.load(name));
      return row;
    });
    this.root.replaceChildren(saveButton, ...rows);
  }
}
