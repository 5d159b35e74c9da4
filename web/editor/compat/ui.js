// ComfyUI's "scripts/ui.js" for pack extensions: $el (element builder) and ComfyDialog.

/** $el("div.a.b#id", { textContent, style: {...}, dataset: {...}, parent, $: (el) => ... }, [children]) */
export function $el(tag, propsOrChildren, children) {
  const [name] = tag.match(/^[^.#]*/);
  const element = document.createElement(name || "div");
  for (const [token] of tag.slice(name.length).matchAll(/[.#][^.#]+/g)) {
    if (token[0] === "#") element.id = token.slice(1);
    else element.classList.add(token.slice(1));
  }
  let props = propsOrChildren;
  if (Array.isArray(propsOrChildren) || propsOrChildren instanceof Node || typeof propsOrChildren === "string") {
    children = propsOrChildren;
    props = null;
  }
  if (props) {
    const { parent, $: onCreated, dataset, style, ...rest } = props;
    if (dataset) Object.assign(element.dataset, dataset);
    if (style) Object.assign(element.style, style);
    Object.assign(element, rest);
    if (parent) parent.append(element);
    if (onCreated) onCreated(element);
  }
  if (children != null) element.append(...(Array.isArray(children) ? children : [children]).filter((c) => c != null));
  return element;
}

/** A modal with a text area and a Close button: show(html | element | [elements]), close(). */
export class ComfyDialog extends EventTarget {
  constructor(type = "div", buttons = null) {
    super();
    this.buttons = buttons;
    this.element = $el(`${type}.comfy-modal`, {
      parent: document.body,
      style: { display: "none", position: "fixed", inset: "10% 20%", zIndex: 1000, background: "#222", color: "#ddd",
               padding: "12px", border: "1px solid #555", borderRadius: "6px", flexDirection: "column", overflow: "auto" },
    }, [$el("div.comfy-modal-content", [$el("p", { $: (p) => (this.textElement = p) }), ...this.createButtons()])]);
  }

  createButtons() {
    return this.buttons ?? [$el("button", { type: "button", textContent: "Close", onclick: () => this.close() })];
  }

  close() {
    this.element.style.display = "none";
  }

  show(html) {
    const content = typeof html === "string" ? [$el("div", { innerHTML: html })] : Array.isArray(html) ? html : [html];
    this.textElement.replaceChildren(...content);
    this.element.style.display = "flex";
  }
}
