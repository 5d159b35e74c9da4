"""What a finished job's ``ui`` outputs offer a jobs list: counts and the one item to preview.

The official ComfyUI frontend's Job Queue and Media Assets panels read these fields
(``outputs_count``, ``previewable_outputs_count``, ``preview_output`` with ``nodeId`` and
``mediaType``); its schema rejects the whole answer when one is malformed.
"""
from __future__ import annotations

from typing import Any

PREVIEWABLE_KEYS = ("images", "video", "audio", "3d", "text")
PREVIEWABLE_SUFFIXES = (".obj", ".fbx", ".gltf", ".glb", ".usdz", ".txt", ".md", ".json")
VISUAL_KEYS = ("images", "video", "3d")
TEXT_PREVIEW_CHARS = 1024


def _media_items(outputs: dict) -> list[tuple[str, str, dict]]:
    """``(node id, media key, item)`` for every file-like item, in node order."""
    found = []
    for node_id, ui in outputs.items():
        if not isinstance(ui, dict):
            continue
        for key, values in ui.items():
            if key in ("animated", "text") or not isinstance(values, list):
                continue
            found += [(str(node_id), key, item) for item in values if isinstance(item, dict)]
    return found


def _previewable(key: str, item: dict) -> bool:
    media_format = str(item.get("format") or "")
    filename = str(item.get("filename") or "").lower()
    return (key in PREVIEWABLE_KEYS or media_format.startswith(("video/", "audio/"))
            or filename.endswith(PREVIEWABLE_SUFFIXES))


def _raw_texts(outputs: dict) -> list[tuple[str, str]]:
    texts = []
    for node_id, ui in outputs.items():
        values = ui.get("text") if isinstance(ui, dict) else None
        for value in values if isinstance(values, list) else [values] if isinstance(values, str) else []:
            if isinstance(value, str):
                texts.append((str(node_id), value))
    return texts


def summarize_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    """``outputs_count``, ``previewable_outputs_count`` and ``preview_output`` (or None).

    The preview is the first previewable saved (``type: output``) item, else any visual item, else
    a saved text file, else the first raw text (its first 1,024 characters) as ``mediaType: text``.
    """
    items = _media_items(outputs)
    previewable = [(node, key, item) for node, key, item in items if _previewable(key, item)]
    texts = _raw_texts(outputs)
    choice = (next((c for c in previewable if c[2].get("type") == "output"), None)
              or next((c for c in previewable if c[1] in VISUAL_KEYS), None)
              or next(iter(previewable), None))
    preview = None
    if choice is not None:
        node, key, item = choice
        preview = dict(item, nodeId=node, mediaType=key)
        if preview.get("type") not in (None, "input", "output", "temp"):
            preview.pop("type")
    elif texts:
        node, text = texts[0]
        preview = {"nodeId": node, "mediaType": "text", "content": text[:TEXT_PREVIEW_CHARS]}
        if len(text) > TEXT_PREVIEW_CHARS:
            preview["truncated"] = True
    return {"outputs_count": len(items), "previewable_outputs_count": len(previewable) + (1 if texts else 0),
            "preview_output": preview}


ERROR_TEXT_FIELDS = ("node_id", "node_type", "exception_message", "exception_type")


def reportable_error(error: object) -> dict | None:
    """A job's ``execution_error`` when it has every field a jobs-list reader requires, else None."""
    if not isinstance(error, dict) or not all(isinstance(error.get(key), str) for key in ERROR_TEXT_FIELDS):
        return None
    traceback = error.get("traceback")
    if not isinstance(traceback, list) or not all(isinstance(line, str) for line in traceback):
        return None
    return error
