"""The small files beside a VLM's weights that Plexus's own processors read (transformers' processor
classes for these families need torchvision, so the settings are read here)."""
from __future__ import annotations

import json
from pathlib import Path


def read_json(path: Path) -> dict:
    """A JSON settings file, or ``{}`` when the model folder has none."""
    return json.loads(path.read_text()) if path.is_file() else {}


def read_chat_template(folder: Path) -> str | None:
    """The processor's chat template: ``chat_template.jinja``, else ``chat_template.json``."""
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text()
    return read_json(folder / "chat_template.json").get("chat_template")
