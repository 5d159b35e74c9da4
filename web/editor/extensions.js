// Web extensions from custom-node packs. GET /extensions lists ES module URLs; each module is
// imported and may call `app.registerExtension({...})` (see README.md for the hooks).

export const EXTENSION_HOOKS = ["init", "setup", "beforeRegisterNodeDef", "nodeCreated", "loadedGraphNode", "beforeQueuePrompt", "executed"];

export class ExtensionRegistry {
  constructor() { this.extensions = []; }

  register(extension) {
    if (!extension || typeof extension.name !== "string" || !extension.name) {
      throw new Error("registerExtension: an extension needs a unique string `name`");
    }
    if (this.extensions.some((existing) => existing.name === extension.name)) {
      throw new Error(`registerExtension: '${extension.name}' is already registered`);
    }
    this.extensions.push(extension);
  }

  /** Calls `hook(...args)` on every extension; one failing extension never stops the others. */
  async invoke(hook, ...args) {
    for (const extension of this.extensions) {
      if (typeof extension[hook] !== "function") continue;
      try {
        await extension[hook](...args);
      } catch (error) {
        console.warn(`extension ${extension.name}.${hook} failed:`, error);
      }
    }
  }

  /** Synchronous variant for hooks called from litegraph callbacks. */
  invokeSync(hook, ...args) {
    for (const extension of this.extensions) {
      if (typeof extension[hook] !== "function") continue;
      try {
        extension[hook](...args);
      } catch (error) {
        console.warn(`extension ${extension.name}.${hook} failed:`, error);
      }
    }
  }
}

/** Imports every listed extension module; returns the URLs that failed. */
export async function loadExtensionModules(api) {
  let urls = [];
  try {
    urls = await api.getExtensions();
  } catch {
    return [];
  }
  const failures = [];
  await Promise.all(urls.filter((url) => typeof url === "string" && url.endsWith(".js")).map(async (url) => {
    try {
      const path = url.startsWith("/") ? url.slice(1) : url;
      await import(new URL(api.url(path), window.location.href).href);
    } catch (error) {
      console.warn(`could not load extension ${url}:`, error);
      failures.push(url);
    }
  }));
  return failures;
}
