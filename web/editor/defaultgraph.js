// The first-start workflow: SD3 text-to-image. Built from /object_info when the server does not
// ship workflows/sd3_text_to_image.json, using the first checkpoint it lists.

import { LGraph, LiteGraph } from "../lib/litegraph/litegraph.es.js";

export const DEFAULT_WORKFLOW_NAME = "sd3_text_to_image.json";

const LAYOUT = [
  ["CheckpointLoaderSimple", [40, 180]],
  ["CLIPTextEncode", [400, 40], { text: "a photograph of a lighthouse on a cliff at sunset" }],
  ["CLIPTextEncode", [400, 290], { text: "" }, "Negative prompt"],
  ["EmptySD3LatentImage", [400, 540], { width: 512, height: 512 }],
  ["KSampler", [800, 160], { steps: 20, cfg: 5.5, sampler_name: "euler", scheduler: "sgm_uniform" }],
  ["VAEDecode", [1150, 160]],
  ["SaveImage", [1150, 300], { filename_prefix: "Plexus" }],
];

function setWidget(node, name, value) {
  const widget = node.widgets?.find((w) => w.name === name);
  if (widget && (widget.type !== "combo" || (widget.options.values ?? []).includes(value))) widget.value = value;
}

export function buildDefaultWorkflow(objectInfo) {
  const graph = new LGraph();
  if (!LAYOUT.every(([type]) => objectInfo[type])) return graph.serialize(); // an empty canvas
  const nodes = LAYOUT.map(([type, pos, values = {}, title]) => {
    const node = LiteGraph.createNode(type);
    node.pos = pos;
    if (title) node.title = title;
    graph.add(node);
    for (const [name, value] of Object.entries(values)) setWidget(node, name, value);
    return node;
  });
  const [checkpoint, positive, negative, latent, sampler, decode, save] = nodes;
  const seedControl = sampler.widgets.find((w) => w.isControlAfterGenerate);
  if (seedControl) seedControl.value = "fixed";
  checkpoint.connect(0, sampler, "model");
  checkpoint.connect(1, positive, "clip");
  checkpoint.connect(1, negative, "clip");
  positive.connect(0, sampler, "positive");
  negative.connect(0, sampler, "negative");
  latent.connect(0, sampler, "latent_image");
  sampler.connect(0, decode, "samples");
  checkpoint.connect(2, decode, "vae");
  decode.connect(0, save, "images");
  return graph.serialize();
}
