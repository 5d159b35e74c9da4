"""Full-CLIP nodes: zero-shot labels, image-text similarity, and LAION-style pair filtering.

The loader is ``CLIPModelLoader`` (type ``CLIP_MODEL``, folder ``models/clip_models/``): ComfyUI's
``CLIPLoader``/``CLIP`` name the text encoder of a diffusion model, which is another thing.
"""
from __future__ import annotations

import json
import re

from execution.declare import Combo, Float, In, Out, String, node
from models.folders import ModelListing


def parse_labels(text: str) -> list[str]:
    """One label per line; a single line is split on commas."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [part.strip() for part in re.split(r",", lines[0]) if part.strip()]
    return lines


@node("CLIPModelLoader", display_name="Load CLIP Model (zero-shot)", category="loaders/multimodal",
      inputs=[Combo("clip_name", ModelListing("clip_models"))],
      outputs=[Out("CLIP_MODEL")])
def clip_model_loader(ctx, clip_name: str):
    """Load a full CLIP model (both towers, transformers folder) from models/clip_models/ for zero-shot scoring."""
    from models.contrastive.clip_score import load_clip_model
    from models.managed import load_managed

    return (load_managed(ctx.services, "clip_models", clip_name,
                         lambda path, dtype, manager: load_clip_model(path, dtype, manager)),)


@node("CLIPZeroShot", display_name="CLIP Zero-Shot", category="multimodal/clip",
      inputs=[In("clip_model", "CLIP_MODEL"), In("image", "IMAGE"),
              String("labels", "a photo of a cat\na photo of a dog", multiline=True,
                     tooltip="one label per line (or comma-separated on one line)")],
      outputs=[Out("STRING", "probabilities", is_list=True), Out("STRING", "top_label", is_list=True)])
def clip_zero_shot(clip_model, image, labels: str):
    """Label probabilities for each image (JSON ``{label: p}``, best first) and its top label."""
    names = parse_labels(labels)
    if not names:
        raise ValueError("CLIPZeroShot needs at least one label")
    probabilities = clip_model.zero_shot(image, names)
    reports, tops = [], []
    for row in probabilities.tolist():
        ranked = sorted(zip(names, row), key=lambda item: -item[1])
        reports.append(json.dumps({label: round(p, 6) for label, p in ranked}))
        tops.append(ranked[0][0])
    return (reports, tops)


@node("CLIPScore", display_name="CLIP Score", category="multimodal/clip",
      inputs=[In("clip_model", "CLIP_MODEL"), In("image", "IMAGE"), String("text", "", multiline=True)],
      outputs=[Out("FLOAT", "score", is_list=True)])
def clip_score(clip_model, image, text: str):
    """Cosine similarity between each image and the text (one FLOAT per image)."""
    return (clip_model.cosine(image, [text])[:, 0].tolist(),)


@node("CLIPScoreFilter", display_name="CLIP Score Filter", category="multimodal/clip", input_is_list=True,
      inputs=[In("clip_model", "CLIP_MODEL"), In("images", "IMAGE"), In("texts", "STRING"),
              Float("threshold", 0.28, min=-1.0, max=1.0, step=0.01)],
      outputs=[Out("IMAGE", "images", is_list=True), Out("STRING", "texts", is_list=True),
               Out("STRING", "report")])
def clip_score_filter(ctx, clip_model: list, images: list, texts: list, threshold: list):
    """Keep the (image, text) pairs whose CLIP cosine similarity is at or above the threshold.
    Pairs go in order; the last text repeats when there are fewer texts than images."""
    from models.vision_language.images import flatten_image_batches

    pictures = [image.unsqueeze(0) for image in flatten_image_batches(images)]
    captions = [str(t) for t in texts if t is not None]
    if not pictures or not captions:
        raise ValueError("CLIPScoreFilter needs at least one image and one text")
    if len(captions) > len(pictures):
        ctx.warn(f"{len(captions)} texts for {len(pictures)} images; the extra texts are ignored")
    captions = [captions[min(i, len(captions) - 1)] for i in range(len(pictures))]
    scores = clip_model[0].pair_cosine(pictures, captions, on_batch=ctx.progress)
    limit = float(threshold[0])
    kept = [i for i, score in enumerate(scores) if score >= limit]
    report = {"threshold": limit, "total": len(pictures), "kept": len(kept),
              "pairs": [{"index": i, "text": captions[i], "score": round(s, 6), "kept": s >= limit}
                        for i, s in enumerate(scores)]}
    return ([pictures[i] for i in kept], [captions[i] for i in kept], json.dumps(report))
