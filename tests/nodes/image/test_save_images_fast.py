"""Issue 23: save nodes serialise a run's PNG metadata once, remember the next file number per
folder and prefix (never overwriting what other writers add), honour --png-compress-level, and
create files with the user's umask."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from models.folders import FolderPaths
from models.services import Services


def context(tmp_path, memo=None, **options):
    services = Services(paths=FolderPaths.create(tmp_path / "base"), **options)
    services.paths.ensure_dirs()
    return SimpleNamespace(services=services, prompt_id="p1", run_memo={} if memo is None else memo,
                           progress=lambda value, total: None)


@pytest.fixture(scope="module")
def image():
    import torch

    return torch.rand(1, 8, 8, 3)


def test_metadata_is_serialised_once_per_run_and_embedded_in_every_png(tmp_path, image, monkeypatch):
    from PIL import Image

    from nodes.image import images

    calls = []
    real_dumps = json.dumps
    monkeypatch.setattr(images.json, "dumps", lambda value, *a, **k: calls.append(1) or real_dumps(value, *a, **k))
    ctx = context(tmp_path)
    prompt, extra = {"1": {"class_type": "EmptyImage", "inputs": {}}}, {"workflow": {"nodes": []}}
    names = [images.preview_image(ctx, image, prompt, extra)["ui"]["images"][0]["filename"] for _ in range(5)]
    assert len(calls) == 2  # prompt + workflow, once for the five images
    for name in names:
        text = Image.open(ctx.services.paths.temp_dir / name).text
        assert json.loads(text["prompt"]) == prompt and json.loads(text["workflow"]) == extra["workflow"]
    other_prompt = {"2": {"class_type": "X", "inputs": {}}}  # another object: serialised anew
    name = images.preview_image(ctx, image, other_prompt, extra)["ui"]["images"][0]["filename"]
    assert json.loads(Image.open(ctx.services.paths.temp_dir / name).text["prompt"]) == other_prompt
    assert len(calls) == 4


def test_counter_is_remembered_and_files_of_other_writers_are_skipped(tmp_path, image, monkeypatch):
    from nodes.image.images import save_image

    ctx = context(tmp_path)
    output = ctx.services.paths.output_dir
    (output / "shots").mkdir()
    (output / "shots" / "cat_00003_.png").write_bytes(b"older")
    first = save_image(ctx, image, "shots/cat")["ui"]["images"][0]
    assert first == {"filename": "cat_00004_.png", "subfolder": "shots", "type": "output"}
    scans = []
    monkeypatch.setattr(os, "scandir", lambda *a: scans.append(a) or (_ for _ in ()).throw(AssertionError))
    (output / "shots" / "cat_00005_.png").write_bytes(b"another writer's")
    second = save_image(ctx, image, "shots/cat")["ui"]["images"][0]["filename"]
    assert second == "cat_00006_.png" and not scans  # from memory, the taken name skipped
    assert (output / "shots" / "cat_00005_.png").read_bytes() == b"another writer's"
    monkeypatch.undo()
    for leftover in (output / "shots").iterdir():  # the folder goes away: resolved and scanned again
        leftover.unlink()
    (output / "shots").rmdir()
    assert save_image(ctx, image, "shots/cat")["ui"]["images"][0]["filename"] == "cat_00001_.png"


def test_compat_save_path_still_scans_for_packs_that_write_themselves(tmp_path):
    paths = FolderPaths.create(tmp_path / "base")
    paths.ensure_dirs()
    paths.saved("pack", None, paths.save_slot("pack"), 7)
    (paths.output_dir / "pack_00001_.png").write_bytes(b"x")
    assert paths.save_path("pack")[2] == 2  # ComfyUI's rule: one above the highest on disk
    assert paths.save_slot("pack")[2] == 7


def test_png_compress_level_is_configurable_and_files_keep_the_umask(tmp_path):
    import torch

    from nodes.image.images import save_image

    flat = torch.zeros(1, 64, 64, 3)
    sizes = {}
    for level in (0, 9):
        ctx = context(tmp_path / str(level), png_compress_level=level)
        name = save_image(ctx, flat, "level")["ui"]["images"][0]["filename"]
        path = ctx.services.paths.output_dir / name
        sizes[level] = path.stat().st_size
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sizes[0] > 64 * 64 * 3 > 20 * sizes[9]  # stored as is, and compressed


def test_progress_only_for_batches(tmp_path):
    import torch

    from nodes.image.images import save_image

    reported = []
    ctx = context(tmp_path)
    ctx.progress = lambda value, total: reported.append((value, total))
    save_image(ctx, torch.zeros(1, 4, 4, 3), "one")
    assert reported == []  # one image: no progress events (two websocket messages per output saved)
    save_image(ctx, torch.zeros(3, 4, 4, 3), "batch")
    assert reported == [(1, 3), (2, 3), (3, 3)]


def test_settling_a_journal_keeps_recorded_files_and_removes_the_others(tmp_path):
    import torch

    from models.output_journal import OutputJournal
    from nodes.image.images import preview_image, save_image

    ctx = context(tmp_path)
    paths = ctx.services.paths
    journal = ctx.services.output_journal = OutputJournal(paths.user_dir)
    kept = {"1": save_image(ctx, torch.zeros(2, 4, 4, 3), "sub/kept")["ui"],
            "2": preview_image(ctx, torch.zeros(1, 4, 4, 3))["ui"]}
    dropped = save_image(ctx, torch.zeros(1, 4, 4, 3), "dropped")["ui"]["images"][0]["filename"]
    removed = journal.settle("p1", kept, paths.folder_for_type)
    assert [p.name for p in removed] == [dropped]
    assert journal.path.stat().st_size == 0  # nothing outstanding: emptied for the next restart
    assert len([p for p in (paths.output_dir / "sub").iterdir()]) == 2 and any(paths.temp_dir.iterdir())


def test_spliced_metadata_is_byte_for_byte_what_pillow_writes(image):
    import io

    from PIL.PngImagePlugin import PngInfo

    from nodes.image.images import png_bytes
    from nodes.image.png_encoding import text_chunks
    from nodes.image.tensor_ops import tensor_to_pil

    picture = tensor_to_pil(image[0])
    for chunks in ({"prompt": json.dumps({"1": {"inputs": {"text": "café"}}}), "workflow": "{}"},
                   {"prompt": "not Latin-1: 猫"}, {}):  # tEXt, iTXt (as Pillow falls back), none
        info = PngInfo()
        for key, value in chunks.items():
            info.add_text(key, value)
        expected = io.BytesIO()
        picture.save(expected, format="PNG", pnginfo=info, compress_level=1)
        assert png_bytes(picture, text_chunks(chunks), 1) == expected.getvalue()


def test_journaled_saves_create_the_final_name_exclusively(tmp_path, image, monkeypatch):
    from models.output_journal import OutputJournal
    from models.safe_files import write_new_file
    from nodes.image.images import save_image

    ctx = context(tmp_path)
    journal = ctx.services.output_journal = OutputJournal(ctx.services.paths.user_dir)
    output = ctx.services.paths.output_dir
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"untouched")
    assert save_image(ctx, image, "direct")["ui"]["images"][0]["filename"] == "direct_00001_.png"
    os.symlink(outside, output / "direct_00002_.png")  # planted under the remembered next name
    name = save_image(ctx, image, "direct")["ui"]["images"][0]["filename"]
    assert name == "direct_00003_.png" and outside.read_bytes() == b"untouched"
    assert [p.name for p in output.iterdir() if p.name.startswith(".")] == []  # no temporary name
    umask = os.umask(0)
    os.umask(umask)
    assert (output / name).stat().st_mode & 0o777 == 0o666 & ~umask
    noted = [str(output / f"direct_0000{n}_.png") for n in (1, 2, 3)]
    assert journal.noted("p1") == noted
    assert [json.loads(line) for line in journal.path.read_text().splitlines()] == [["p1", path] for path in noted]

    def full_disk(handle, data):  # a write that fails midway leaves no file behind
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_new_file(output / "failed.png", b"x")
    assert not (output / "failed.png").exists()
