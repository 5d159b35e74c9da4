// Multi-line text widgets: the canvas cannot edit text, so each one is a <textarea> laid over
// the canvas and moved into place whenever its node is drawn. Textareas whose node was not drawn
// in the last frame (scrolled away, collapsed, removed) are hidden. A MarkdownNote's widget shows
// its text rendered (markdown.js) and turns into the textarea on a double-click.

import { renderMarkdown } from "./markdown.js";

/** Owns the layer of DOM overlays above the canvas and the frame bookkeeping. */
export class OverlayHost {
  constructor(layerElement, canvasElement) {
    this.layer = layerElement;
    this.canvasElement = canvasElement;
    this.frame = 0;
    this.overlays = new Set();
  }

  beginFrame() {
    this.frame += 1;
    // Read layout once per frame: reading it between style writes would force a layout per textarea.
    this.pixelRatio = this.canvasElement.clientWidth / this.canvasElement.width || 1;
  }

  endFrame() {
    for (const overlay of this.overlays) {
      if (overlay.node && !overlay.node.graph) this.remove(overlay); // node deleted
      else if (overlay.drawnFrame !== this.frame) overlay.hide();
    }
  }

  add(overlay) { this.overlays.add(overlay); this.layer.appendChild(overlay.element); }

  remove(overlay) { this.overlays.delete(overlay); overlay.element.remove(); }

  /** Converts a point in the current canvas transform to CSS pixels inside the layer. */
  toLayer(ctx, x, y) {
    const transform = ctx.getTransform();
    const ratio = this.pixelRatio ?? 1;
    return {
      left: (transform.a * x + transform.c * y + transform.e) * ratio,
      top: (transform.b * x + transform.d * y + transform.f) * ratio,
      scale: transform.a * ratio,
    };
  }
}

const MARGIN = 10;

/** A litegraph custom widget whose value lives in a <textarea>. */
export class TextAreaOverlay {
  constructor(name, value, host) {
    this.type = "customtext";
    this.name = name;
    this.options = { multiline: true };
    this.y = 0;
    this.host = host;
    this.drawnFrame = -1;
    this.element = document.createElement("textarea");
    this.element.className = "plexus-textarea";
    this.element.spellcheck = false;
    this.element.dataset.widget = name;
    this.element.value = value ?? "";
    this.element.style.display = "none";
    this.element.addEventListener("input", () => { this.node?.graph?.change?.(); this.node?.onWidgetChanged?.(name, this.value); });
    this.element.addEventListener("pointerdown", (event) => event.stopPropagation());
    this.element.addEventListener("wheel", (event) => { if (event.ctrlKey) event.preventDefault(); }, { passive: false });
    this.attached = false; // joins the overlay layer when first drawn, so unused widgets leave no DOM
  }

  get value() { return this.element.value; }

  set value(text) { this.element.value = text == null ? "" : String(text); }

  computeSize(width) { return [width ?? 200, 80]; }

  draw(ctx, node, width, y) {
    this.node = node;
    if (!this.host) return;
    const height = (this.computedHeight ?? 84) - 4;
    const connected = node.getSlotFromWidget?.(this)?.link != null;
    const visible = !node.flags?.collapsed && !connected && this.host.frame > 0;
    if (!visible) return;
    const { left, top, scale } = this.host.toLayer(ctx, MARGIN, y);
    if (scale < 0.35) { // too small to type into: draw a placeholder instead
      ctx.fillStyle = "#222";
      ctx.fillRect(MARGIN, y, width - MARGIN * 2, height);
      return;
    }
    if (!this.attached) { this.host.add(this); this.attached = true; }
    // One transform per frame; size only when it changes (both avoid needless style work).
    const style = this.element.style;
    if (style.display !== "block") style.display = "block";
    const size = `${width - MARGIN * 2}x${height}`;
    if (size !== this.lastSize) {
      style.width = `${width - MARGIN * 2}px`;
      style.height = `${height}px`;
      this.lastSize = size;
    }
    style.transform = `translate(${left.toFixed(1)}px, ${top.toFixed(1)}px) scale(${scale.toFixed(4)})`;
    this.drawnFrame = this.host.frame;
  }

  /** Joins the overlay layer (hidden) when its node joins a graph, so that scrolling a node into
   *  view never has to insert DOM. */
  attachTo(node) {
    this.node = node;
    if (!this.attached && this.host) { this.host.add(this); this.attached = true; }
  }

  hide() { if (this.element.style.display !== "none") this.element.style.display = "none"; }

  onRemove() { this.host?.remove(this); this.attached = false; }
}

/** A note's text: rendered Markdown, edited in a textarea after a double-click (Escape or leaving
 *  the textarea shows the rendering again). */
export class MarkdownOverlay extends TextAreaOverlay {
  constructor(name, value, host) {
    super(name, value, host);
    this.textarea = this.element;
    this.textarea.classList.add("markdown-source");
    this.textarea.style.display = "none";
    this.preview = document.createElement("div");
    this.preview.className = "plexus-markdown";
    this.preview.title = "Double-click to edit";
    this.element = document.createElement("div");
    this.element.className = "plexus-textarea plexus-markdown-note";
    this.element.dataset.widget = name;
    this.element.style.display = "none";
    this.element.append(this.preview, this.textarea);
    this.element.addEventListener("pointerdown", (event) => event.stopPropagation());
    this.preview.addEventListener("dblclick", () => this.edit());
    this.textarea.addEventListener("blur", () => this.showRendered());
    this.textarea.addEventListener("keydown", (event) => { if (event.key === "Escape") this.textarea.blur(); });
    this.textarea.addEventListener("input", () => this.render());
    this.render();
  }

  get value() { return this.textarea.value; }

  set value(text) { this.textarea.value = text == null ? "" : String(text); this.render(); }

  render() { this.preview.replaceChildren(renderMarkdown(this.textarea.value)); }

  edit() {
    this.preview.style.display = "none";
    this.textarea.style.display = "block";
    this.textarea.focus();
  }

  showRendered() {
    this.render();
    this.textarea.style.display = "none";
    this.preview.style.display = "block";
  }
}
