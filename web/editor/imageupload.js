// LoadImage-style inputs (combo with `image_upload`): an upload button, drag-and-drop of an image
// file onto the node, and a preview of the chosen file from /view?type=input.

import { setComboValues } from "./widgets.js";
import { ensureDisplayRoom, setNodeImages } from "./nodedraw.js";

function fileReference(value) {
  const text = String(value ?? "");
  const slash = text.lastIndexOf("/");
  return slash < 0 ? { filename: text, subfolder: "" } : { filename: text.slice(slash + 1), subfolder: text.slice(0, slash) };
}

/** Wires upload + preview onto `comboWidget` of `node`. `app` provides api and canvas. */
export function addImageUpload(node, comboWidget, app) {
  const showPreview = () => {
    if (!comboWidget.value) return;
    const url = app.api.viewUrl({ ...fileReference(comboWidget.value), type: "input" });
    setNodeImages(node, [url], app.canvas);
    ensureDisplayRoom(node, 160);
  };
  const originalCallback = comboWidget.callback;
  comboWidget.callback = function onImageChosen(value, ...rest) {
    originalCallback?.call(this, value, ...rest);
    showPreview();
  };

  const uploadFile = async (file) => {
    const result = await app.api.uploadImage(file);
    const name = result.subfolder ? `${result.subfolder}/${result.name}` : result.name;
    const values = [...new Set([...(comboWidget.options.values ?? []), name])].sort();
    setComboValues(comboWidget, values);
    comboWidget.value = name;
    showPreview();
    app.graph.setDirtyCanvas(true, true);
    await app.refreshComboValues?.();
    return name;
  };

  const button = node.addWidget("button", "choose file to upload", "image", () => {
    const picker = document.createElement("input");
    picker.type = "file";
    picker.accept = "image/png,image/jpeg,image/webp,image/gif";
    picker.className = "plexus-upload-picker";
    picker.style.display = "none";
    picker.addEventListener("change", async () => {
      if (picker.files?.length) await uploadFile(picker.files[0]).catch((error) => app.toast(String(error), "error"));
      picker.remove();
    });
    document.body.appendChild(picker);
    app.lastUploadPicker = picker; // lets automation set files without a native dialog
    picker.click();
  }, {});
  button.isUploadButton = true;
  button.label = "choose file to upload";

  node.uploadImageFile = uploadFile;
  node.acceptsImageDrop = true;
  const previousConfigure = node.onConfigure;
  node.onConfigure = function onConfigureWithPreview(info) {
    previousConfigure?.call(this, info);
    showPreview();
  };
  // Show the default choice once the node is on a graph.
  queueMicrotask(() => { if (node.graph && !node.runState?.images?.length) showPreview(); });
}
