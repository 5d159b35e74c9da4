"""Issue 18, points 7 and 13: save nodes never write through a planted symlink, use unpredictable
temporary names, keep the user's umask, and never overwrite a file that took their name."""
from __future__ import annotations

import os
from types import SimpleNamespace

from models.folders import FolderPaths
from models.services import Services


def context(tmp_path):
    services = Services(paths=FolderPaths.create(tmp_path / "base"))
    services.paths.ensure_dirs()
    return SimpleNamespace(services=services, prompt_id="p1", warn=lambda message: None,
                           progress=lambda value, total: None)


def test_save_text_does_not_follow_a_link_planted_at_the_old_temp_name(tmp_path):
    from nodes.basics.text import save_text

    ctx = context(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    notes = ctx.services.paths.output_dir / "notes"
    notes.mkdir()
    for name in (".cap_00001_.txt.tmp", ".plexus-partial-guess"):  # guessable temp names
        os.symlink(outside, notes / name)
    ui = save_text(ctx, ["written"], ["notes/cap"], ["txt"])["ui"]
    assert outside.read_text() == "untouched"
    target = notes / "cap_00001_.txt"
    assert ui["files"][0]["filename"] == "cap_00001_.txt" and not target.is_symlink()
    assert target.read_text() == "written"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_image_skips_a_name_taken_meanwhile_and_never_writes_through_links(tmp_path, monkeypatch):
    import torch

    from models.folders import FolderPaths as Paths
    from nodes.image.images import save_image

    ctx = context(tmp_path)
    output = ctx.services.paths.output_dir
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"untouched")
    # the counter is computed first; a link appears under the next name before the write
    real_save_path = Paths.save_path

    def racing_save_path(self, prefix, root=None):
        found = real_save_path(self, prefix, root)
        os.symlink(outside, found[0] / f"{found[1]}_{found[2]:05}_.png")
        return found

    monkeypatch.setattr(Paths, "save_path", racing_save_path)
    ui = save_image(ctx, torch.zeros(1, 4, 4, 3), "race")["ui"]
    assert ui["images"][0]["filename"] == "race_00002_.png"
    assert outside.read_bytes() == b"untouched" and (output / "race_00002_.png").stat().st_size > 0
    assert not [p for p in output.iterdir() if p.name.startswith(".")]  # no temporary file left
