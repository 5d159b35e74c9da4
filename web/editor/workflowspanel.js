// User storage: workflows saved on the server under user/<user>/workflows/ (/userdata API).

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

  async load(fileName) {
    const workflow = await this.app.api.getUserWorkflow(fileName);
    if (!workflow) { this.app.toast(`Could not load ${fileName}`, "error"); return; }
    await this.app.loadGraphData(workflow);
    document.getElementById("workflow-name").value = fileName.replace(/\.json$/, "");
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
