"""PreviewText and SaveText: any value shown as text; files written into output/ and confined there."""
from __future__ import annotations

import json

import pytest


def test_preview_text_shows_strings_lists_and_plain_values():
    from nodes.basics.text import preview_text

    ui = preview_text([["first", "second"], 3, {"k": 1}, None])["ui"]
    assert ui == {"text": ["first", "second", "3", '{"k": 1}']}


def test_save_text_numbered_named_and_jsonl(vlm_env):
    from nodes.basics.text import save_text

    output = vlm_env.services.paths.output_dir
    numbered = save_text(vlm_env.context(), ["one", "two"], ["notes/cap"], ["txt"])["ui"]
    assert numbered["text"] == ["notes/cap_00001_.txt", "notes/cap_00002_.txt"]
    assert (output / "notes" / "cap_00002_.txt").read_text() == "two"
    again = save_text(vlm_env.context(), ["three"], ["notes/cap"], ["txt"])["ui"]
    assert again["text"] == ["notes/cap_00003_.txt"]  # never overwrites earlier files

    events: list = []
    named = save_text(vlm_env.context(events), [["a caption", "b caption", "extra"]], ["captions/x"], ["txt"],
                      [["sub/a.png", "b.jpg"]])["ui"]
    assert (output / "captions" / "sub" / "a.txt").read_text() == "a caption"
    assert (output / "captions" / "b.txt").read_text() == "b caption"
    assert len(named["files"]) == 2 and any("3 texts but 2 names" in e.message for e in events)

    manifest = save_text(vlm_env.context(), ["x", "y"], ["captions/all"], ["jsonl"], ["p.png", "q.png"])["ui"]
    lines = (output / "captions" / manifest["files"][0]["filename"]).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"name": "p.png", "text": "x"}, {"name": "q.png", "text": "y"}]

    with pytest.raises(ValueError):
        save_text(vlm_env.context(), ["evil"], ["captions/x"], ["txt"], ["../../outside.png"])
    assert not (vlm_env.base / "outside.txt").exists()


def test_preview_any_shows_one_value_as_comfyui_does():
    from nodes.basics.text import preview_any

    assert preview_any("plain") == {"ui": {"text": ["plain"]}, "result": ("plain",)}  # newer: STRING out too
    assert preview_any(2.5)["ui"] == {"text": ["2.5"]}
    assert preview_any(None)["ui"] == {"text": ["None"]}
    assert preview_any({"k": [1]})["ui"]["text"][0].replace(" ", "").replace("\n", "") == '{"k":[1]}'
    assert preview_any(object())["ui"]["text"][0].startswith("<object")
