// ComfyUI-style extensions import `app` from "/scripts/app.js"; index.html's import map points
// that URL here. The editor sets window.app before it imports any extension.
export const app = window.app;
export const ComfyApp = app?.constructor;
