// Socket and link colours by type. Well-known ComfyUI types keep their familiar colours;
// any other type gets a stable colour derived from its name.

const KNOWN_TYPE_COLORS = {
  MODEL: "#b39ddb", CLIP: "#ffd500", VAE: "#ff6e6e", LATENT: "#ff9cf9", IMAGE: "#64b5f6",
  MASK: "#81c784", CONDITIONING: "#ffa931", CONTROL_NET: "#00d78d", CLIP_VISION: "#a8dadc",
  CLIP_VISION_OUTPUT: "#ad7452", STYLE_MODEL: "#c2ffae", INT: "#29b6f6", FLOAT: "#aed581",
  STRING: "#c5e1a5", BOOLEAN: "#ef9a9a", COMBO: "#9e9e9e", VLM: "#f48fb1", RETRIEVER: "#80cbc4",
  PAGE_INDEX: "#ce93d8", SIGMAS: "#cdffcd", NOISE: "#b0b0b0", SAMPLER: "#ecb4b4", GUIDER: "#66ffff",
};

function hashColor(type) {
  let hash = 0;
  for (const char of type) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360}, 65%, 62%)`;
}

export function colorForType(type) {
  return KNOWN_TYPE_COLORS[type] ?? hashColor(String(type));
}

/** Sets link and slot colours for every type named in /object_info. */
export function applyTypeColors(canvas, LGraphCanvasClass, objectInfo) {
  const types = new Set(Object.keys(KNOWN_TYPE_COLORS));
  for (const definition of Object.values(objectInfo)) {
    for (const output of definition.output ?? []) if (typeof output === "string") types.add(output);
    for (const section of ["required", "optional"]) {
      for (const spec of Object.values(definition.input?.[section] ?? {})) {
        const raw = Array.isArray(spec) ? spec[0] : spec;
        if (typeof raw === "string") for (const part of raw.split(",")) types.add(part);
      }
    }
  }
  const colors = {};
  for (const type of types) if (type && type !== "*") colors[type] = colorForType(type);
  LGraphCanvasClass.link_type_colors = { ...LGraphCanvasClass.link_type_colors, ...colors };
  canvas.default_connection_color_byType = { ...colors };
  canvas.default_connection_color_byTypeOff = { ...colors };
}
