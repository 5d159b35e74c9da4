"""Text output nodes: show strings on the node (and in the history), save them as files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from execution.declare import Combo, In, Out, String, node


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _flatten(values: list) -> list[str]:
    texts: list[str] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            texts.extend(_as_text(v) for v in value)
        elif value is not None:
            texts.append(_as_text(value))
    return texts


@node("PreviewText", display_name="Preview Text", category="utils", output_node=True, input_is_list=True,
      inputs=[In("text", "*")], outputs=[])
def preview_text(text: list):
    """Show any STRING (or list of strings, or other plain value as JSON) on the node; kept in the history."""
    return {"ui": {"text": _flatten(text)}}


def _preview_any_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    try:
        return json.dumps(value, indent=4, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


# Newer ComfyUI also outputs the text (70 uses in the pinned templates link it onward).
@node("PreviewAny", display_name="Preview Any", category="utils", output_node=True,
      inputs=[In("source", "*")], outputs=[Out("STRING")])
def preview_any(source: Any):
    """Show any value as text on the node (ComfyUI's node: a string as is, other values as JSON)."""
    text = _preview_any_text(source)
    return {"ui": {"text": [text]}, "result": (text,)}


@node("SaveText", display_name="Save Text", category="utils", output_node=True, input_is_list=True,
      inputs=[In("text", "STRING"), String("filename_prefix", "captions/caption"),
              Combo("format", ["txt", "jsonl"]),
              In("names", "STRING", optional=True,
                 tooltip="file names to pair with the texts (from LoadImagesFromFolder): writes <name>.txt")],
      outputs=[])
def save_text(ctx, text: list, filename_prefix: list, format: list, names: list | None = None):
    """Write texts to output/: one ``<name>.txt`` per text (named after its image when names are given,
    otherwise numbered) or one JSONL manifest of ``{"name", "text"}`` lines."""
    texts = _flatten(text)
    prefix, mode = filename_prefix[0], format[0]
    pair_names = _flatten(names or [])
    if pair_names and len(pair_names) != len(texts):
        ctx.warn(f"{len(texts)} texts but {len(pair_names)} names; pairing the first "
                 f"{min(len(texts), len(pair_names))}")
        count = min(len(texts), len(pair_names))
        texts, pair_names = texts[:count], pair_names[:count]
    paths = ctx.services.paths
    folder, stem, counter, subfolder = paths.save_path(prefix)
    written: list[Path] = []
    if mode == "jsonl":
        target = folder / f"{stem}_{counter:05}_.jsonl"
        lines = [json.dumps({"name": pair_names[i] if pair_names else f"{i:05}", "text": t}, ensure_ascii=False)
                 for i, t in enumerate(texts)]
        _write_atomically(ctx, target, "".join(line + "\n" for line in lines))
        written.append(target)
    else:
        from models.folders import confined

        for index, content in enumerate(texts):
            if pair_names:
                target = confined(folder, str(Path(pair_names[index]).with_suffix(".txt")))
                target.parent.mkdir(parents=True, exist_ok=True)
            else:
                target = folder / f"{stem}_{counter + index:05}_.txt"
            _write_atomically(ctx, target, content)
            written.append(target)
    files = [{"filename": p.relative_to(folder).as_posix(), "subfolder": subfolder, "type": "output"}
             for p in written]
    shown = [f"{f['subfolder']}/{f['filename']}" if f["subfolder"] else f["filename"] for f in files]
    return {"ui": {"text": shown, "files": files}}


def _write_atomically(ctx, target: Path, content: str) -> None:
    """Through an unpredictable O_EXCL|O_NOFOLLOW temp file and a rename: a planted symlink (at the
    target or a guessable temp name) is replaced, never written through."""
    from models.output_journal import note_output
    from models.safe_files import write_atomically

    note_output(ctx.services, ctx.prompt_id, target)
    write_atomically(target, content.encode("utf-8"))


@node("StringConcatenate", display_name="Concatenate", category="utils/string",
      inputs=[String("string_a", "", multiline=True), String("string_b", "", multiline=True),
              String("delimiter", "")],
      outputs=[Out("STRING")])
def string_concatenate(string_a: str, string_b: str, delimiter: str = ""):
    """string_a + delimiter + string_b."""
    return (delimiter.join([string_a, string_b]),)


@node("StringReplace", display_name="Replace", category="utils/string",
      inputs=[String("string", "", multiline=True), String("find", "", multiline=True),
              String("replace", "", multiline=True)],
      outputs=[Out("STRING")])
def string_replace(string: str, find: str, replace: str):
    """Every occurrence of ``find`` replaced by ``replace``."""
    return (string.replace(find, replace),)
