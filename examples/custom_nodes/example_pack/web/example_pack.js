// Editor extension of the example pack. The editor imports every script listed by
// GET /extensions as an ES module; `window.app.registerExtension` takes an object with a unique
// `name` and any of the hooks init, setup, beforeRegisterNodeDef, nodeCreated, loadedGraphNode,
// beforeQueuePrompt, executed (see web/editor/README.md).
const app = window.app;

const EXAMPLE_COLOR = "#2d4a3e";
const EXAMPLE_BGCOLOR = "#1f332b";

app?.registerExtension({
  name: "plexus.example_pack",

  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.python_module !== "custom_nodes.example_pack") return;
    // litegraph falls back to the node class's colours when a node has none of its own
    nodeType.color = EXAMPLE_COLOR;
    nodeType.bgcolor = EXAMPLE_BGCOLOR;
  },

  nodeCreated(node) {
    if (node?.type === "ExampleGradient") {
      node.title = node.title || "Gradient (example)";
    }
  },

  async setup() {
    // The pack's HTTP route, added by plexus_setup() on the server.
    try {
      const url = app.api?.url ? app.api.url("example_pack/info") : "/example_pack/info";
      const response = await fetch(url);
      if (response.ok) window.plexusExamplePack = await response.json();
    } catch {
      // the route is informative only
    }
  },
});
