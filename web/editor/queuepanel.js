// The queue/history panel: running and pending jobs (cancel / interrupt), and past jobs whose
// workflow can be loaded back onto the canvas.

function button(label, className, onClick) {
  const element = document.createElement("button");
  element.textContent = label;
  element.className = className;
  element.addEventListener("click", onClick);
  return element;
}

function row(className, text, ...actions) {
  const element = document.createElement("div");
  element.className = `queue-row ${className}`;
  const label = document.createElement("span");
  label.className = "queue-label";
  label.textContent = text;
  element.append(label, ...actions);
  return element;
}

export class QueuePanel {
  constructor(rootElement, app) {
    this.root = rootElement;
    this.app = app;
    this.refreshing = null;
  }

  refresh() {
    this.refreshing ??= this.#render().finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  async #render() {
    const { api } = this.app;
    let queue = { queue_running: [], queue_pending: [] };
    let history = {};
    try {
      [queue, history] = await Promise.all([api.getQueue(), api.getHistory(30)]);
    } catch (error) {
      this.root.textContent = `Queue unavailable: ${error.message}`;
      return;
    }
    const sections = [];
    const heading = (text) => { const h = document.createElement("h3"); h.textContent = text; return h; };
    sections.push(heading(`Running (${queue.queue_running.length})`));
    for (const item of queue.queue_running) {
      const [number, promptId] = item;
      const entry = row("running", `#${number} ${promptId.slice(0, 8)}`,
        button("Interrupt", "queue-interrupt", async () => { await api.interrupt(promptId); this.refresh(); }));
      entry.dataset.promptId = promptId;
      sections.push(entry);
    }
    sections.push(heading(`Pending (${queue.queue_pending.length})`));
    for (const item of [...queue.queue_pending].sort((a, b) => a[0] - b[0])) {
      const [number, promptId] = item;
      const entry = row("pending", `#${number} ${promptId.slice(0, 8)}`,
        button("Cancel", "queue-cancel", async () => { await api.deleteQueueItems([promptId]); this.refresh(); }),
        button("Load", "queue-load", () => this.app.loadGraphData(item[3]?.extra_pnginfo?.workflow)));
      entry.dataset.promptId = promptId;
      sections.push(entry);
    }
    sections.push(heading("History"));
    const past = Object.entries(history).sort(([, a], [, b]) => (b.prompt?.[0] ?? 0) - (a.prompt?.[0] ?? 0));
    for (const [promptId, item] of past) {
      const status = item.status?.status_str ?? (item.status?.completed ? "success" : "?");
      const imageCount = Object.values(item.outputs ?? {}).reduce((n, ui) => n + (ui.images?.length ?? 0), 0);
      const workflow = item.prompt?.[3]?.extra_pnginfo?.workflow;
      const actions = workflow ? [button("Load", "history-load", () => this.app.loadGraphData(workflow))] : [];
      const entry = row(`history ${status}`, `#${item.prompt?.[0] ?? "?"} ${status} · ${imageCount} image(s)`, ...actions);
      entry.dataset.promptId = promptId;
      sections.push(entry);
    }
    const toolbar = document.createElement("div");
    toolbar.className = "queue-toolbar";
    toolbar.append(
      button("Refresh", "queue-refresh", () => this.refresh()),
      button("Clear pending", "queue-clear", async () => { await api.clearQueue(); this.refresh(); }),
    );
    this.root.replaceChildren(toolbar, ...sections);
  }
}

/** Output images of this session, newest first; clicking one opens it full size. */
export class Gallery {
  constructor(rootElement) {
    this.root = rootElement;
    this.root.classList.add("gallery");
  }

  add(urls) {
    for (const url of urls) {
      const link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      const image = document.createElement("img");
      image.src = url;
      image.loading = "lazy";
      image.className = "gallery-image";
      link.appendChild(image);
      this.root.prepend(link);
    }
  }
}
