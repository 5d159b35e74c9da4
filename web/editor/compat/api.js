// ComfyUI-style extensions import `api` from "/scripts/api.js" (mapped here by index.html).
export const api = window.app?.api;
export const ComfyApi = api?.constructor;
