// Undo/redo by snapshots: after each user gesture the graph is serialised and compared with the
// last snapshot; a difference becomes an undo step. Also autosaves the workflow.

const MAX_STEPS = 50;

export class ChangeTracker {
  constructor(app, { onChange } = {}) {
    this.app = app;
    this.onChange = onChange;
    this.undoStack = [];
    this.redoStack = [];
    this.current = null;
    this.restoring = false;
  }

  reset() {
    this.undoStack = [];
    this.redoStack = [];
    this.current = this.#snapshot();
  }

  #snapshot() {
    const workflow = this.app.graph.serialize();
    delete workflow.extra?.ds; // panning/zooming is not an undo step
    return JSON.stringify(workflow);
  }

  /** Called after gestures; cheap enough for a few hundred nodes. */
  check() {
    if (this.restoring || !this.app.graph) return;
    const next = this.#snapshot();
    if (next === this.current) return;
    if (this.current !== null) {
      this.undoStack.push(this.current);
      if (this.undoStack.length > MAX_STEPS) this.undoStack.shift();
    }
    this.redoStack = [];
    this.current = next;
    this.onChange?.();
  }

  async #restore(text) {
    this.restoring = true;
    try {
      const workflow = JSON.parse(text);
      workflow.extra = { ...workflow.extra, ds: this.app.currentViewport() };
      await this.app.loadGraphData(workflow, { keepHistory: true });
      this.current = text;
      this.onChange?.();
    } finally {
      this.restoring = false;
    }
  }

  async undo() {
    if (!this.undoStack.length) return false;
    this.redoStack.push(this.current);
    await this.#restore(this.undoStack.pop());
    return true;
  }

  async redo() {
    if (!this.redoStack.length) return false;
    this.undoStack.push(this.current);
    await this.#restore(this.redoStack.pop());
    return true;
  }

  /** Watches the page for gestures that may have changed the graph. */
  attach(element) {
    const schedule = () => setTimeout(() => this.check(), 0);
    element.addEventListener("pointerup", schedule, true);
    window.addEventListener("keyup", schedule, true);
    element.addEventListener("input", schedule, true);
    element.addEventListener("change", schedule, true);
  }
}
