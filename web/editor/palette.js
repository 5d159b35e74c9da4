// The node palette: a sidebar tree grouped by category, and the search box that opens on a
// double-click of the canvas or when a dragged link is dropped on empty space.

import { LiteGraph } from "../lib/litegraph/litegraph.es.js";

const MAX_RESULTS = 60;
const VIEWPORT_MARGIN = 8;
export const NODE_DRAG_MIME = "application/x-plexus-node";
// Test and example nodes stay out of the palette and the search unless the user asks for them.
const TESTING_CATEGORIES = /^(_for_testing|testing|examples?)(\/|$)/;

export function isTestingEntry(entry) {
  return TESTING_CATEGORIES.test(entry.category);
}

/** The entries a user browses: test nodes only when `showTesting`. */
export function visibleEntries(entries, showTesting = false) {
  return showTesting ? entries : entries.filter((entry) => !isTestingEntry(entry));
}

/** Everything the palette needs to know about one node type. */
export function describeNodeTypes() {
  return Object.entries(LiteGraph.registered_node_types).map(([type, ctor]) => {
    const probe = ctor.nodeData;
    const inputTypes = [];
    const outputTypes = [];
    if (probe) {
      for (const section of ["required", "optional"]) {
        for (const spec of Object.values(probe.input?.[section] ?? {})) {
          const raw = Array.isArray(spec) ? spec[0] : spec;
          const grown = raw === "COMFY_AUTOGROW_V3" ? Object.values(spec[1]?.template?.input?.required ?? {})[0] : null;
          inputTypes.push(Array.isArray(raw) ? "COMBO" : String(grown ? [grown].flat()[0] : raw));
        }
      }
      for (const raw of probe.output ?? []) outputTypes.push(Array.isArray(raw) ? "COMBO" : String(raw));
    } else if (type === "Reroute") {
      inputTypes.push("*"); outputTypes.push("*");
    }
    return {
      type, title: ctor.title || type, category: ctor.category || "", description: ctor.description || "",
      inputTypes, outputTypes,
    };
  });
}

function accepts(slotTypes, wanted) {
  return slotTypes.some((slotType) => LiteGraph.isValidConnection(slotType, wanted));
}

/** How well one entry matches the whole query: exact display name, exact type, display-name
 *  prefix, type prefix; 0 when none of these. */
function wholeQueryRank(entry, query) {
  const compact = (text) => text.toLowerCase().replace(/[\s_-]+/g, ""); // "load image" names LoadImage
  const title = compact(entry.title);
  const type = compact(entry.type);
  query = compact(query);
  if (title === query) return 40;
  if (type === query) return 30;
  if (title.startsWith(query)) return 20;
  if (type.startsWith(query)) return 10;
  return 0;
}

/** Ranks node types for a query: exact and prefix matches on the display name first, then every
 *  word found in the name (prefixes before substrings), then in the category or description. */
export function searchNodeTypes(entries, query, { inputType = null, outputType = null } = {}) {
  const whole = query.trim().toLowerCase();
  const words = whole.split(/\s+/).filter(Boolean);
  const scored = [];
  for (const entry of entries) {
    if (inputType && !accepts(entry.inputTypes, inputType)) continue;
    if (outputType && !accepts(entry.outputTypes, outputType)) continue;
    const name = `${entry.type} ${entry.title}`.toLowerCase();
    const rest = `${entry.category} ${entry.description}`.toLowerCase();
    let score = 0;
    for (const word of words) {
      if (name.startsWith(word) || entry.title.toLowerCase().startsWith(word)) score += 4;
      else if (name.includes(word)) score += 3;
      else if (rest.includes(word)) score += 1;
      else { score = -1; break; }
    }
    if (score < 0) continue;
    scored.push({ entry, rank: whole ? wholeQueryRank(entry, whole) : 0, score: score - entry.title.length / 1000 });
  }
  scored.sort((a, b) => b.rank - a.rank || b.score - a.score || a.entry.title.localeCompare(b.entry.title));
  return scored.slice(0, MAX_RESULTS).map((item) => item.entry);
}

/** The sidebar: a filter box and a category tree whose items can be clicked or dragged. */
export class PaletteSidebar {
  constructor(rootElement, { onPick }) {
    this.root = rootElement;
    this.onPick = onPick;
    this.entries = [];
    this.filter = document.createElement("input");
    this.filter.type = "search";
    this.filter.placeholder = "Filter nodes…";
    this.filter.className = "palette-filter";
    this.tree = document.createElement("div");
    this.tree.className = "palette-tree";
    const toggle = document.createElement("label");
    toggle.className = "palette-show-testing";
    this.showTesting = document.createElement("input");
    this.showTesting.type = "checkbox";
    toggle.append(this.showTesting, " Show test and example nodes");
    this.root.replaceChildren(this.filter, toggle, this.tree);
    this.filter.addEventListener("input", () => this.render());
    this.showTesting.addEventListener("change", () => this.render());
  }

  setEntries(entries) { this.entries = entries; this.render(); }

  /** What the palette and the search box offer now. */
  shownEntries() { return visibleEntries(this.entries, this.showTesting.checked); }

  #item(entry) {
    const item = document.createElement("div");
    item.className = "palette-item";
    item.textContent = entry.title;
    item.title = entry.description ? `${entry.type}: ${entry.description}` : entry.type;
    item.dataset.type = entry.type;
    item.draggable = true;
    item.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData(NODE_DRAG_MIME, entry.type);
      event.dataTransfer.setData("text/plain", entry.type);
      event.dataTransfer.effectAllowed = "copy";
    });
    item.addEventListener("click", () => this.onPick(entry.type));
    return item;
  }

  render() {
    const query = this.filter.value;
    if (query.trim()) {
      const list = document.createElement("div");
      list.className = "palette-results";
      for (const entry of searchNodeTypes(this.shownEntries(), query)) list.appendChild(this.#item(entry));
      this.tree.replaceChildren(list);
      return;
    }
    const root = { children: new Map(), items: [] };
    for (const entry of this.shownEntries()) {
      let branch = root;
      for (const part of (entry.category || "uncategorised").split("/")) {
        if (!branch.children.has(part)) branch.children.set(part, { children: new Map(), items: [] });
        branch = branch.children.get(part);
      }
      branch.items.push(entry);
    }
    const build = (branch, path) => {
      const fragment = document.createDocumentFragment();
      for (const [name, child] of [...branch.children].sort(([a], [b]) => a.localeCompare(b))) {
        const details = document.createElement("details");
        details.className = "palette-category";
        details.dataset.category = path ? `${path}/${name}` : name;
        const summary = document.createElement("summary");
        summary.textContent = name;
        details.append(summary, build(child, details.dataset.category));
        fragment.appendChild(details);
      }
      for (const entry of branch.items.sort((a, b) => a.title.localeCompare(b.title))) fragment.appendChild(this.#item(entry));
      return fragment;
    };
    this.tree.replaceChildren(build(root, ""));
  }
}

/** The floating search box. `open()` resolves with the chosen type, or null when dismissed. */
export class SearchBox {
  constructor(hostElement, getEntries) {
    this.host = hostElement;
    this.getEntries = getEntries;
    this.element = null;
  }

  close() { this.element?.remove(); this.element = null; }

  open({ clientX, clientY, inputType = null, outputType = null }) {
    this.close();
    return new Promise((resolve) => {
      const box = document.createElement("div");
      box.className = "search-box";
      const input = document.createElement("input");
      input.type = "text";
      input.className = "search-input";
      input.placeholder = inputType ? `Nodes taking ${inputType}…` : outputType ? `Nodes giving ${outputType}…` : "Search nodes…";
      const list = document.createElement("div");
      list.className = "search-results";
      box.append(input, list);
      this.host.appendChild(box);
      this.element = box;
      let results = [];
      let selected = 0;
      let settled = false;
      const finish = (value) => { if (settled) return; settled = true; this.close(); resolve(value); };
      // Opened near the pointer, then kept whole inside the viewport as the result list grows.
      const place = () => {
        const { width, height } = box.getBoundingClientRect();
        const maxLeft = window.innerWidth - width - VIEWPORT_MARGIN;
        const maxTop = window.innerHeight - height - VIEWPORT_MARGIN;
        box.style.left = `${Math.max(VIEWPORT_MARGIN, Math.min(clientX - 20, maxLeft))}px`;
        box.style.top = `${Math.max(VIEWPORT_MARGIN, Math.min(clientY - 20, maxTop))}px`;
      };
      const render = () => {
        results = searchNodeTypes(this.getEntries(), input.value, { inputType, outputType });
        selected = Math.min(selected, Math.max(0, results.length - 1));
        list.replaceChildren(...results.map((entry, index) => {
          const row = document.createElement("div");
          row.className = `search-result${index === selected ? " selected" : ""}`;
          row.dataset.type = entry.type;
          const title = document.createElement("span");
          title.textContent = entry.title;
          const category = document.createElement("small");
          category.textContent = entry.category;
          row.append(title, category);
          row.title = entry.description;
          row.addEventListener("pointerdown", (event) => { event.preventDefault(); finish(entry.type); });
          return row;
        }));
        place();
      };
      input.addEventListener("input", () => { selected = 0; render(); });
      input.addEventListener("keydown", (event) => {
        if (event.key === "ArrowDown") { selected = Math.min(selected + 1, results.length - 1); render(); event.preventDefault(); }
        else if (event.key === "ArrowUp") { selected = Math.max(selected - 1, 0); render(); event.preventDefault(); }
        else if (event.key === "Enter") finish(results[selected]?.type ?? null);
        else if (event.key === "Escape") finish(null);
        event.stopPropagation();
      });
      input.addEventListener("blur", () => setTimeout(() => finish(null), 150));
      render();
      input.focus();
    });
  }
}
