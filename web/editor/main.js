// Entry point: creates the app, exposes it as `window.app`, and builds the page.
import { PlexusApp } from "./app.js";
import { setupUi } from "./ui.js";

const app = new PlexusApp();
window.app = app;
setupUi(app).catch((error) => {
  console.error("editor start-up failed:", error);
  document.body.dataset.ready = "failed";
  const banner = document.getElementById("status-text");
  if (banner) banner.textContent = `Start-up failed: ${error.message}`;
});
