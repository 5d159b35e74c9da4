"""The console buffer behind /internal/logs: kept entries, one notification per batch, pass-through."""
from __future__ import annotations

import io

from web.log_buffer import LogBuffer, _Tee


def test_entries_are_kept_and_batched_for_subscribers():
    batches: list[list[str]] = []
    logs = LogBuffer(notify=batches.append, max_entries=3)
    logs.record("before anyone listens\n")
    assert logs.take_pending() == [] and batches == []
    logs.subscribe("client", True)
    logs.record("one\n")
    logs.record("two\n")
    assert batches == [["client"]]  # one wake-up for the batch
    assert [e["m"] for e in logs.take_pending()] == ["one\n", "two\n"]
    logs.record("three\n")
    assert len(batches) == 2
    assert [e["m"] for e in logs.snapshot()] == ["one\n", "two\n", "three\n"]  # the oldest fell out
    logs.subscribe("client", False)
    assert logs.subscribed() == []


def test_a_closed_loop_does_not_break_printing_and_the_tee_passes_through():
    def closed(_):
        raise RuntimeError("Event loop is closed")

    logs = LogBuffer(notify=closed)
    logs.subscribe("client", True)
    terminal = io.StringIO()
    tee = _Tee(terminal, logs.record)
    assert tee.write("still printed\n") == len("still printed\n")
    assert terminal.getvalue() == "still printed\n" and logs.snapshot()[-1]["m"] == "still printed\n"
    assert tee.getvalue() == "still printed\n"  # other attributes reach the real stream
