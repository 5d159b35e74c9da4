"""Issue 18, points 1, 3, 9: what the queue stores reads back, and a bad row never stops a start."""
from __future__ import annotations

import json
import sqlite3

import pytest

from execution.jobs.queue import DuplicatePromptId, InvalidJob, JobOutcome, JobQueue
from execution.jobs.rows import MAX_STORED_DEPTH, storable_json

PROMPT = {"1": {"class_type": "X", "inputs": {"v": 1}}}


def strict(text: str):
    def refuse(name):
        raise ValueError(name)
    return json.loads(text, parse_constant=refuse)


def readable(queue: JobQueue) -> None:
    """Everything the routes serve serialises as strict JSON (what browsers parse)."""
    strict(json.dumps(queue.history(), allow_nan=False))
    strict(json.dumps(queue.jobs()[0], allow_nan=False))
    strict(json.dumps([j.queue_item() for j in queue.pending()], allow_nan=False))


def test_enqueue_refuses_what_cannot_be_read_back(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite3")
    for number in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(InvalidJob):
            queue.enqueue(f"n{number}", PROMPT, {}, ["1"], number=number)
    with pytest.raises(InvalidJob):
        queue.enqueue("c", PROMPT, {}, ["1"], client_id=5)
    with pytest.raises(InvalidJob):
        queue.enqueue("p", {"1": {"inputs": {"v": float("nan")}}}, {}, ["1"])
    queue.enqueue("ok", PROMPT, {}, ["1"], number=3.0)
    with pytest.raises(DuplicatePromptId):
        queue.enqueue("ok", PROMPT, {}, ["1"])
    assert queue.remaining() == 1 and [j.prompt_id for j in queue.pending()] == ["ok"]
    queue.claim("w")
    queue.complete("ok", JobOutcome("success", outputs={"1": {"score": [float("nan"), 1.5]}}))
    readable(queue)
    assert queue.history()["ok"]["outputs"]["1"]["score"] == [None, 1.5]
    queue.close()


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


CORRUPTIONS = {
    "infinite number": ("UPDATE jobs SET number=9e999 WHERE prompt_id=?", ()),
    "text number": ("UPDATE jobs SET number='abc' WHERE prompt_id=?", ()),
    "broken prompt": ("UPDATE jobs SET prompt='{not json' WHERE prompt_id=?", ()),
    "NaN in prompt": ("""UPDATE jobs SET prompt='{"1": NaN}' WHERE prompt_id=?""", ()),
    "prompt not an object": ("UPDATE jobs SET prompt='[1]' WHERE prompt_id=?", ()),
    "deep prompt": ("UPDATE jobs SET prompt=? WHERE prompt_id=?", (deep(975),)),
    "deeper than SQLite parses": ("UPDATE jobs SET prompt=? WHERE prompt_id=?", (deep(1500),)),
    "unknown state": ("UPDATE jobs SET state='exploded' WHERE prompt_id=?", ()),
    "broken result": ("UPDATE jobs SET state='success', finish_seq=99, result='{x' WHERE prompt_id=?", ()),
    "broken outputs": ("UPDATE jobs SET outputs='\"1\"' WHERE prompt_id=?", ()),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_restart_after_a_corrupted_row_quarantines_it_and_serves(tmp_path, corruption, capsys):
    path = tmp_path / "q.sqlite3"
    queue = JobQueue(path)
    for prompt_id in ("good-1", "bad", "good-2"):
        queue.enqueue(prompt_id, PROMPT, {}, ["1"])
    queue.claim("w", prompt_id="good-1")
    queue.complete("good-1", JobOutcome("success", outputs={"1": {"v": [1]}}))
    queue.close()
    sql, params = CORRUPTIONS[corruption]
    with sqlite3.connect(path) as db:
        db.execute(sql, (*params, "bad"))

    restarted = JobQueue(path)  # must not raise
    assert [p for p, _ in restarted.quarantined] == ["bad"]
    assert "moved to jobs_quarantine" in capsys.readouterr().err
    assert list(restarted.history()) == ["good-1"] and [j.prompt_id for j in restarted.pending()] == ["good-2"]
    assert restarted.remaining() == 1
    readable(restarted)
    restarted.enqueue("after", PROMPT, {}, ["1"])  # numbering continues
    assert restarted.pending()[-1].number > restarted.pending()[0].number
    restarted.close()
    with sqlite3.connect(path) as db:
        (row_json,) = db.execute("SELECT row_json FROM jobs_quarantine WHERE prompt_id='bad'").fetchone()
    assert strict(row_json)["prompt_id"] == "bad"  # kept for inspection, itself readable
    assert JobQueue(path).quarantined == []  # a second start finds nothing more


def test_a_row_found_unserialisable_while_serving_is_quarantined(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite3")
    queue.enqueue("x", PROMPT, {}, ["1"])
    queue.quarantine("x", "test")
    assert queue.remaining() == 0 and queue.state_of("x") is None


def test_storable_json_is_strict():
    assert storable_json({"a": float("inf"), "b": [float("nan")], "c": object}).startswith('{"a": null, "b": [null]')
    assert MAX_STORED_DEPTH < 900  # leaves room for the response around it under the recursion limit
