"""The output journal: one append-only file per server process, settled from memory, reconciled at
start-up (its own format and the older one-file-per-job format)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from models.output_journal import JOURNAL_FOLDER, OutputJournal, reconcile_outputs


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"png")
    return path


def outputs_listing(*files: Path) -> dict:
    return {"9": {"images": [{"filename": f.name, "subfolder": "", "type": "output"} for f in files]}}


def test_settling_removes_what_the_outcome_does_not_list_and_empties_the_file(tmp_path):
    journal = OutputJournal(tmp_path / "user")
    out = tmp_path / "out"
    kept, cut_short, other = (touch(out / name) for name in ("a.png", "b.png", "c.png"))
    journal.note("p1", kept)
    journal.note("p1", cut_short)
    journal.note("p2", other)
    assert journal.noted("p1") == [str(kept), str(cut_short)]
    assert journal.settle("p1", outputs_listing(kept), lambda kind: out) == [cut_short]
    assert kept.is_file() and not cut_short.exists()
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)[0] for line in lines] == ["p1", "p1", "p2"]  # p2 is still outstanding
    link = tmp_path / "link"
    link.symlink_to(out)  # the outcome names the folder another way: resolved before anything goes
    assert journal.settle("p2", outputs_listing(other), lambda kind: link) == [] and other.is_file()
    assert journal.path.stat().st_size == 0  # nothing outstanding: nothing for a restart to settle
    assert journal.settle("never-noted", {}, lambda kind: out) == []
    journal.close()
    assert not journal.path.exists()


def test_a_link_is_never_removed(tmp_path):
    journal = OutputJournal(tmp_path / "user")
    target = touch(tmp_path / "elsewhere" / "precious.png")
    link = tmp_path / "out" / "x.png"
    link.parent.mkdir()
    link.symlink_to(target)
    journal.note("p", link)
    assert journal.settle("p", {}, lambda kind: tmp_path / "out") == []
    assert link.is_symlink() and target.is_file()


def test_notes_from_many_threads_are_whole_lines(tmp_path):
    journal = OutputJournal(tmp_path / "user")

    def note(worker: int) -> None:
        for index in range(200):
            journal.note(f"p{worker}", tmp_path / f"{worker}-{index}.png")

    threads = [threading.Thread(target=note, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert len(entries) == 800 and {prompt for prompt, _ in entries} == {"p0", "p1", "p2", "p3"}
    journal.close()
    assert journal.path.exists()  # closed with notes outstanding: the next start settles them


def test_reconcile_reads_both_formats_and_skips_a_line_cut_short(tmp_path):
    user = tmp_path / "user"
    folder = user / JOURNAL_FOLDER
    folder.mkdir(parents=True)
    recorded, crashed, legacy_crashed = (touch(tmp_path / "out" / n) for n in ("r.png", "c.png", "l.png"))
    (folder / "server-123.jsonl").write_text(
        json.dumps(["done", str(recorded)]) + "\n" + json.dumps(["requeued", str(crashed)]) + "\n" + '["cut", "/x')
    (folder / "old-job").write_text(json.dumps(str(legacy_crashed)) + "\n" + '"cut sho')
    asked = []

    def recorded_files(prompt_id: str):
        asked.append(prompt_id)
        return {recorded.resolve()} if prompt_id == "done" else None  # None: not finished

    removed = reconcile_outputs(user, recorded_files)
    assert sorted(removed) == sorted([crashed, legacy_crashed])
    assert recorded.is_file() and sorted(asked) == ["done", "old-job", "requeued"]
    assert list(folder.iterdir()) == []
