// Workflow files: open/save as JSON, export in API format, read the `workflow`/`prompt` text
// chunks of PNGs, and remember the last workflow in localStorage.

const LAST_WORKFLOW_KEY = "plexus.lastWorkflow";

/** Reads tEXt/iTXt chunks of a PNG into {keyword: text}. */
export function readPngTextChunks(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((value, i) => bytes[i] === value)) return {};
  const chunks = {};
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  let offset = 8;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = latin1.decode(bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "tEXt") {
      const zero = data.indexOf(0);
      chunks[latin1.decode(data.subarray(0, zero))] = utf8.decode(data.subarray(zero + 1));
    } else if (type === "iTXt") {
      const zero = data.indexOf(0);
      const keyword = latin1.decode(data.subarray(0, zero));
      const compressed = data[zero + 1] === 1;
      let cursor = zero + 3;
      cursor = data.indexOf(0, cursor) + 1; // language tag
      cursor = data.indexOf(0, cursor) + 1; // translated keyword
      if (!compressed) chunks[keyword] = utf8.decode(data.subarray(cursor));
    } else if (type === "IEND") {
      break;
    }
    offset += 12 + length;
  }
  return chunks;
}

/** Extracts `{workflow?, prompt?}` from a dropped/opened File (JSON or PNG). */
export async function readWorkflowFile(file) {
  const isPng = file.type === "image/png" || file.name?.toLowerCase().endsWith(".png");
  if (isPng) {
    const chunks = readPngTextChunks(await file.arrayBuffer());
    const parse = (text) => { try { return text ? JSON.parse(text) : null; } catch { return null; } };
    return { workflow: parse(chunks.workflow), prompt: parse(chunks.prompt) };
  }
  return classifyWorkflowJson(JSON.parse(await file.text()));
}

/** `{workflow}` for editor JSON, `{prompt}` for an API-format prompt; throws for anything else. */
export function classifyWorkflowJson(json) {
  if (json && Array.isArray(json.nodes)) return { workflow: json };
  const values = json && typeof json === "object" && !Array.isArray(json) ? Object.values(json) : [];
  if (values.length && values.every((n) => n && typeof n === "object" && "class_type" in n)) return { prompt: json };
  throw new Error("not a workflow: expected editor JSON (nodes, links) or an API prompt");
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const arrayOf = (value, keep) => (Array.isArray(value) ? value.filter(keep) : []);

/**
 * The parts of an editor workflow litegraph reads, coerced to the shapes it expects, so that a
 * damaged file (hand-edited, truncated by another tool) opens with what can be read instead of
 * breaking the canvas: litegraph would otherwise throw while drawing (a null `config`) or while
 * saving and queueing (`inputs` that are not a list). Returns a new object; `data` is not changed.
 */
export function normalizeWorkflow(data) {
  const workflow = { ...data };
  workflow.nodes = arrayOf(data.nodes, isObject).map(normalizeNode);
  workflow.links = arrayOf(data.links, (link) => (Array.isArray(link) ? link.length >= 6 : isObject(link)));
  workflow.groups = arrayOf(data.groups, isObject);
  for (const key of ["config", "extra"]) workflow[key] = isObject(data[key]) ? data[key] : {};
  return workflow;
}

function normalizeNode(info) {
  const node = { ...info };
  for (const key of ["inputs", "outputs"]) {
    if (key in node) node[key] = arrayOf(node[key], isObject);
  }
  for (const slot of node.outputs ?? []) {
    if ("links" in slot && slot.links !== null && !Array.isArray(slot.links)) slot.links = null;
  }
  node.properties = isObject(node.properties) ? node.properties : {};
  if ("widgets_values" in node && !Array.isArray(node.widgets_values) && !isObject(node.widgets_values)) {
    delete node.widgets_values;
  }
  for (const key of ["pos", "size"]) {
    const value = node[key];
    if (key in node && !(Array.isArray(value) && value.length >= 2 && value.every(Number.isFinite))
        && !(isObject(value) && Number.isFinite(value[0]) && Number.isFinite(value[1]))) delete node[key];
  }
  return node;
}

export function downloadJson(filename, data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const anchor = document.createElement("a");
  anchor.href = URL.createObjectURL(blob);
  anchor.download = filename;
  document.body.appendChild(anchor);
  anchor.click();
  setTimeout(() => { URL.revokeObjectURL(anchor.href); anchor.remove(); }, 0);
}

export function chooseFile(accept) {
  return new Promise((resolve) => {
    const picker = document.createElement("input");
    picker.type = "file";
    picker.accept = accept;
    picker.style.display = "none";
    picker.addEventListener("change", () => { resolve(picker.files?.[0] ?? null); picker.remove(); });
    document.body.appendChild(picker);
    picker.click();
  });
}

export function rememberWorkflow(workflow) {
  try { localStorage.setItem(LAST_WORKFLOW_KEY, JSON.stringify(workflow)); } catch { /* quota: ignore */ }
}

export function recallWorkflow() {
  try {
    const text = localStorage.getItem(LAST_WORKFLOW_KEY);
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}
