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

const PROMPT_TEXT_LENGTH = 60;
const FINAL_EVENTS = new Set(["execution_success", "execution_error", "execution_interrupted"]);

/** Seconds from `execution_start` to the prompt's final event, from the history's messages. */
export function historyDuration(item) {
  const messages = item.status?.messages ?? [];
  const start = messages.find(([type]) => type === "execution_start")?.[1]?.timestamp;
  const end = messages.find(([type]) => FINAL_EVENTS.has(type))?.[1]?.timestamp;
  return start != null && end != null ? (end - start) / 1000 : null;
}

/** The first text input of the prompt (in node-id order): a positive prompt, a caption question. */
export function firstPromptText(prompt) {
  const ids = Object.keys(prompt ?? {}).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  for (const id of ids) {
    for (const [name, value] of Object.entries(prompt[id]?.inputs ?? {})) {
      if (typeof value === "string" && value.trim() && /text|prompt|question|query/i.test(name)) return value.trim();
    }
  }
  return "";
}

function outputFiles(outputs) {
  const files = [];
  for (const ui of Object.values(outputs ?? {})) files.push(...(ui.images ?? []), ...(ui.files ?? []));
  return files;
}

function historyRow(app, promptId, item) {
  const status = item.status?.status_str ?? (item.status?.completed ? "success" : "?");
  const files = outputFiles(item.outputs);
  const images = Object.values(item.outputs ?? {}).flatMap((ui) => ui.images ?? []);
  const seconds = historyDuration(item);
  const text = firstPromptText(item.prompt?.[2]);
  const entry = document.createElement("div");
  entry.className = `queue-row history ${status}`;
  entry.dataset.promptId = promptId;
  if (images.length) {
    const thumbnail = document.createElement("img");
    thumbnail.className = "history-thumbnail";
    thumbnail.loading = "lazy";
    thumbnail.alt = "";
    thumbnail.src = app.api.viewUrl(images[0]);
    entry.appendChild(thumbnail);
  }
  const details = document.createElement("div");
  details.className = "history-details";
  const summary = document.createElement("span");
  summary.className = "queue-label";
  summary.textContent = [`#${item.prompt?.[0] ?? "?"}`, status, seconds != null ? `${seconds.toFixed(2)} s` : null,
    `${files.length} output${files.length === 1 ? "" : "s"}`].filter(Boolean).join(" · ");
  details.appendChild(summary);
  if (text) {
    const quote = document.createElement("div");
    quote.className = "history-text";
    quote.title = text;
    quote.textContent = text.length > PROMPT_TEXT_LENGTH ? `${text.slice(0, PROMPT_TEXT_LENGTH)}…` : text;
    details.appendChild(quote);
  }
  entry.appendChild(details);
  const workflow = item.prompt?.[3]?.extra_pnginfo?.workflow;
  if (workflow) entry.appendChild(button("Load", "history-load", () => app.loadGraphData(workflow)));
  return entry;
}

export class QueuePanel {
  constructor(rootElement, app) {
    this.root = rootElement;
    this.app = app;
    this.refreshing = null; // the render in flight
    this.again = null; // one more render, asked for while that one was in flight
  }

  /** Renders the queue and history. A request made while a render is in flight gets one more render
   * after it (that render's data may predate the request: a job that just finished); requests made
   * meanwhile share it. The promise settles once the panel shows data fetched after the request. */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.#render().finally(() => { this.refreshing = null; });
      return this.refreshing;
    }
    this.again ??= this.refreshing.catch(() => {}).then(() => { this.again = null; return this.refresh(); });
    return this.again;
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
    for (const [promptId, item] of past) sections.push(historyRow(this.app, promptId, item));
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
