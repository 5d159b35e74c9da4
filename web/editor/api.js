// HTTP + websocket client for the Plexus (ComfyUI-compatible) server.
// All URLs are relative to the page, so the editor works behind any prefix;
// a `?token=` on the page URL is carried to every request and to the websocket.

const pageParams = new URLSearchParams(window.location.search);

export class PlexusApi extends EventTarget {
  constructor() {
    super();
    this.token = pageParams.get("token") || null;
    this.clientId = sessionStorage.getItem("plexus.clientId") || crypto.randomUUID?.() || String(Math.random()).slice(2);
    sessionStorage.setItem("plexus.clientId", this.clientId);
    this.socket = null;
    this.reconnectDelayMs = 500;
  }

  /** Adds the token (if any) to a relative URL. */
  url(route) {
    if (!this.token) return route;
    const separator = route.includes("?") ? "&" : "?";
    return `${route}${separator}token=${encodeURIComponent(this.token)}`;
  }

  async fetchApi(route, options = {}) {
    const headers = new Headers(options.headers || {});
    if (this.token) headers.set("Authorization", `Bearer ${this.token}`);
    return fetch(this.url(route), { ...options, headers });
  }

  async fetchJson(route, options = {}) {
    const response = await this.fetchApi(route, options);
    if (!response.ok) throw new Error(`${options.method || "GET"} ${route}: HTTP ${response.status}`);
    return response.json();
  }

  postJson(route, body) {
    return this.fetchApi(route, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  getObjectInfo() { return this.fetchJson("object_info"); }
  getExtensions() { return this.fetchJson("extensions"); }
  getQueue() { return this.fetchJson("queue"); }
  getHistory(maxItems = 50) { return this.fetchJson(`history?max_items=${maxItems}`); }
  interrupt(promptId = null) { return this.postJson("interrupt", promptId ? { prompt_id: promptId } : {}); }
  deleteQueueItems(promptIds) { return this.postJson("queue", { delete: promptIds }); }
  clearQueue() { return this.postJson("queue", { clear: true }); }

  /** POST /prompt. Resolves to the server's JSON; rejects with `.response` holding the error body. */
  async queuePrompt(prompt, workflow, { front = false, number = undefined } = {}) {
    const body = { prompt, client_id: this.clientId, extra_data: { extra_pnginfo: { workflow } } };
    if (front) body.front = true;
    if (number !== undefined) body.number = number;
    const response = await this.postJson("prompt", body);
    const json = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(json?.error?.message || `HTTP ${response.status}`);
      error.response = json;
      throw error;
    }
    return json;
  }

  /** Uploads a File/Blob to input/ and returns `{name, subfolder, type}`. */
  async uploadImage(file, { subfolder = "", type = "input", overwrite = false } = {}) {
    const form = new FormData();
    form.append("image", file, file.name || "upload.png");
    form.append("type", type);
    if (subfolder) form.append("subfolder", subfolder);
    if (overwrite) form.append("overwrite", "true");
    const response = await this.fetchApi("upload/image", { method: "POST", body: form });
    if (!response.ok) throw new Error(`upload failed: HTTP ${response.status}`);
    return response.json();
  }

  viewUrl({ filename, subfolder = "", type = "output" }) {
    const query = new URLSearchParams({ filename, subfolder, type });
    return this.url(`view?${query}`);
  }

  /** Names of the user's stored workflows, relative to workflows/. Lists the user folder itself
   *  (which always exists) so that a missing workflows/ folder is not a failed request. */
  async listUserWorkflows() {
    const response = await this.fetchApi("userdata?dir=.&recurse=true");
    if (!response.ok) return [];
    const files = await response.json();
    return files.filter((path) => typeof path === "string" && path.startsWith("workflows/")).map((path) => path.slice("workflows/".length));
  }

  /** GET a user file under workflows/ (name relative to that folder); null when missing. */
  async getUserWorkflow(name) {
    const response = await this.fetchApi(`userdata/${encodeURIComponent(`workflows/${name}`)}`);
    if (!response.ok) return null;
    return response.json();
  }

  /** A user workflow's JSON; throws an Error that says why it cannot be read. */
  async readUserWorkflow(name) {
    const response = await this.fetchApi(`userdata/${encodeURIComponent(`workflows/${name}`)}`);
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`.trim());
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new Error(`not valid JSON (${error.message})`);
    }
  }

  async saveUserWorkflow(name, workflow) {
    const route = `userdata/${encodeURIComponent(`workflows/${name}`)}?overwrite=true`;
    const response = await this.fetchApi(route, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(workflow),
    });
    if (!response.ok) throw new Error(`save workflow: HTTP ${response.status}`);
  }

  async getSettings() {
    try { return await this.fetchJson("settings"); } catch { return {}; }
  }

  async storeSetting(id, value) {
    await this.postJson(`settings/${encodeURIComponent(id)}`, value).catch(() => {});
  }

  /** Opens the websocket and re-opens it when it drops. Events are re-dispatched as
   *  CustomEvents named like the server's message types ("status", "progress", ...),
   *  plus "b_preview" (Blob) and "b_text" ({node, text}) for binary frames. */
  connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const base = new URL(".", window.location.href);
    const query = new URLSearchParams({ clientId: this.clientId });
    if (this.token) query.set("token", this.token);
    const socket = new WebSocket(`${scheme}://${base.host}${base.pathname}ws?${query}`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.reconnectDelayMs = 500;
      socket.send(JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: false } }));
      this.dispatchEvent(new CustomEvent("reconnected"));
    });
    socket.addEventListener("message", (event) => this.#onMessage(event));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.dispatchEvent(new CustomEvent("disconnected"));
      setTimeout(() => this.connect(), this.reconnectDelayMs);
      this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, 5000);
    });
  }

  #onMessage(event) {
    if (event.data instanceof ArrayBuffer) {
      this.#onBinary(event.data);
      return;
    }
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message.type === "status" && message.data?.sid) {
      this.clientId = message.data.sid;
      sessionStorage.setItem("plexus.clientId", this.clientId);
    }
    this.dispatchEvent(new CustomEvent(message.type, { detail: message.data }));
  }

  #onBinary(buffer) {
    const view = new DataView(buffer);
    const eventType = view.getUint32(0);
    if (eventType === 1) {
      const format = view.getUint32(4) === 2 ? "image/png" : "image/jpeg";
      this.dispatchEvent(new CustomEvent("b_preview", { detail: new Blob([buffer.slice(8)], { type: format }) }));
    } else if (eventType === 3) {
      const nodeIdLength = view.getUint32(4);
      const decoder = new TextDecoder();
      const node = decoder.decode(new Uint8Array(buffer, 8, nodeIdLength));
      const text = decoder.decode(new Uint8Array(buffer, 8 + nodeIdLength));
      this.dispatchEvent(new CustomEvent("b_text", { detail: { node, text } }));
    }
  }
}
