// A small Markdown renderer for MarkdownNote: headings, paragraphs, lists, fenced code, quotes,
// rules, **bold**, *italic*, `code` and [links](https://...). It builds DOM nodes and sets only
// textContent, never innerHTML, so text in a note can never become markup (no HTML injection).

const SAFE_LINK = /^(https?:|mailto:|#|\/(?!\/))/i;
// Emphasis uses asterisks only: underscores inside words (snake_case, file names) stay as typed.
const INLINE = /(\*\*)(.+?)\1|(\*)(.+?)\3|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)/;

/** Appends `text` to `parent`, turning inline Markdown into elements. */
function appendInline(parent, text) {
  let rest = text;
  while (rest) {
    const match = INLINE.exec(rest);
    if (!match) { parent.append(rest); return; }
    if (match.index > 0) parent.append(rest.slice(0, match.index));
    const [whole, , strong, , emphasis, code, label, href] = match;
    if (strong !== undefined) {
      const element = document.createElement("strong");
      appendInline(element, strong);
      parent.append(element);
    } else if (emphasis !== undefined) {
      const element = document.createElement("em");
      appendInline(element, emphasis);
      parent.append(element);
    } else if (code !== undefined) {
      const element = document.createElement("code");
      element.textContent = code;
      parent.append(element);
    } else if (SAFE_LINK.test(href)) {
      const element = document.createElement("a");
      element.href = href;
      element.target = "_blank";
      element.rel = "noopener noreferrer";
      appendInline(element, label);
      parent.append(element);
    } else {
      parent.append(whole); // javascript:, data: and other schemes stay plain text
    }
    rest = rest.slice(match.index + whole.length);
  }
}

function element(tag, text) {
  const node = document.createElement(tag);
  if (text !== undefined) appendInline(node, text);
  return node;
}

/** Renders Markdown `source` into a DocumentFragment. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let paragraph = [];
  let list = null;
  const flushParagraph = () => {
    if (paragraph.length) fragment.append(element("p", paragraph.join(" ")));
    paragraph = [];
  };
  const flushList = () => { if (list) fragment.append(list); list = null; };
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (/^```/.test(line)) {
      flushParagraph(); flushList();
      const code = [];
      for (index += 1; index < lines.length && !/^```/.test(lines[index]); index++) code.push(lines[index]);
      const pre = document.createElement("pre");
      const inner = document.createElement("code");
      inner.textContent = code.join("\n");
      pre.append(inner);
      fragment.append(pre);
      continue;
    }
    const rule = /^\s*([-*_])(\s*\1){2,}\s*$/.test(line);
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (rule) {
      flushParagraph(); flushList();
      fragment.append(document.createElement("hr"));
    } else if (heading) {
      flushParagraph(); flushList();
      fragment.append(element(`h${heading[1].length}`, heading[2]));
    } else if (bullet || numbered) {
      flushParagraph();
      const tag = bullet ? "ul" : "ol";
      if (list?.tagName.toLowerCase() !== tag) { flushList(); list = document.createElement(tag); }
      list.append(element("li", (bullet ?? numbered)[1]));
    } else if (/^\s*>\s?/.test(line)) {
      flushParagraph(); flushList();
      fragment.append(element("blockquote", line.replace(/^\s*>\s?/, "")));
    } else if (!line.trim()) {
      flushParagraph(); flushList();
    } else {
      flushList();
      paragraph.push(line.trim());
    }
  }
  flushParagraph(); flushList();
  return fragment;
}
