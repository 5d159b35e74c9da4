// ComfyUI's "scripts/utils.js" for pack extensions.

export function clone(value) {
  try {
    return structuredClone(value);
  } catch {
    return JSON.parse(JSON.stringify(value));
  }
}

/** Adds a <link rel=stylesheet>; with `relativeTo` (an import.meta.url), a ".js" name becomes ".css". */
export function addStylesheet(urlOrFile, relativeTo) {
  return new Promise((resolve, reject) => {
    const href = relativeTo ? new URL(urlOrFile.endsWith(".js") ? urlOrFile.slice(0, -3) + ".css" : urlOrFile, relativeTo).href : urlOrFile;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.type = "text/css";
    link.href = href;
    link.onload = resolve;
    link.onerror = reject;
    document.head.append(link);
  });
}

export function getStorageValue(id) {
  return localStorage.getItem(id);
}

export function setStorageValue(id, value) {
  localStorage.setItem(id, value);
}

export function downloadBlob(filename, blob) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement("a"), { href: url, download: filename, style: "display:none" });
  document.body.append(a);
  a.click();
  setTimeout(() => { a.remove(); URL.revokeObjectURL(url); }, 0);
}

function formatDate(format, date) {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const parts = { yyyy: date.getFullYear(), yy: pad(date.getFullYear() % 100), MM: pad(date.getMonth() + 1),
                  dd: pad(date.getDate()), hh: pad(date.getHours()), mm: pad(date.getMinutes()), ss: pad(date.getSeconds()),
                  M: date.getMonth() + 1, d: date.getDate(), h: date.getHours(), m: date.getMinutes(), s: date.getSeconds() };
  return format.replace(/yyyy|yy|MM|dd|hh|mm|ss|M|d|h|m|s/g, (token) => String(parts[token]));
}

/** "%date:yyyy-MM-dd%" and "%Node title.widget%" replacements, as in filename prefixes. */
export function applyTextReplacements(app, value) {
  return value.replace(/%([^%]+)%/g, (match, text) => {
    if (text.startsWith("date:")) return formatDate(text.slice(5), new Date());
    const [nodeName, widgetName] = text.split(".");
    if (!widgetName) return match;
    const nodes = (app?.graph?._nodes ?? []).filter((n) => n.title === nodeName || n.properties?.["Node name for S&R"] === nodeName);
    if (nodes.length !== 1) return match;
    const widget = nodes[0].widgets?.find((w) => w.name === widgetName);
    return widget ? String(widget.value).replaceAll("/", "_").replaceAll("\\", "_") : match;
  });
}
