"""The loop outbox (web/outbox.py): calls from other threads run on the loop in order; calls that
are not urgent ride along with the next urgent one, are drained on a timer while a job runs, and
are never stranded when no job runs."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from web.outbox import LoopOutbox


@pytest.fixture
def loop_thread():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def wait_until(condition, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.001)
    return time.monotonic() - started


def test_calls_run_in_order_and_later_ones_ride_with_the_next_urgent_one(loop_thread):
    busy = threading.Event()
    busy.set()
    outbox = LoopOutbox(loop_thread, busy.is_set, first_delay=60.0)  # the timer stays out of it
    seen: list[int] = []
    drains = []
    original = outbox._drain

    def counting_drain() -> None:
        drains.append(1)
        original()

    outbox._drain = counting_drain
    outbox.post(seen.append, 0)  # urgent: the job's start; arms the drain timer (busy)
    wait_until(lambda: len(seen) == 1)
    outbox.post(seen.append, 1, urgent=False)
    outbox.post(seen.append, 2, urgent=False)
    time.sleep(0.05)
    assert len(seen) == 1  # they wait: no wake-up of their own
    before = len(drains)
    outbox.post(seen.append, 3)  # urgent: everything queued goes in this one drain
    wait_until(lambda: len(seen) == 4)
    assert seen == [0, 1, 2, 3]
    assert len(drains) - before == 1
    busy.clear()


def test_a_running_job_is_drained_on_the_timer(loop_thread):
    busy = threading.Event()
    busy.set()
    outbox = LoopOutbox(loop_thread, busy.is_set, first_delay=0.01, max_delay=0.04)
    seen: list[int] = []
    outbox.post(seen.append, 0)
    wait_until(lambda: seen == [0])
    for delay in range(3):  # a long node: its events arrive late by at most DRAIN_MAX each
        time.sleep(0.05)
        outbox.post(seen.append, delay + 1, urgent=False)
        assert wait_until(lambda: seen[-1] == delay + 1) <= 0.04 + 0.5  # the slack is for a loaded machine
    busy.clear()


def test_a_call_that_is_not_urgent_is_never_stranded_when_idle(loop_thread):
    outbox = LoopOutbox(loop_thread, lambda: False)
    seen: list[int] = []
    outbox.post(seen.append, 1, urgent=False)  # no job runs, no timer: it wakes the loop itself
    wait_until(lambda: seen == [1], timeout=1.0)


def test_one_failing_call_does_not_stop_the_others(loop_thread, capsys):
    outbox = LoopOutbox(loop_thread, lambda: False)
    seen: list[int] = []
    outbox.post(lambda: 1 / 0)
    outbox.post(seen.append, 2)
    wait_until(lambda: seen == [2])
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_a_queued_prompt_arms_the_timer_so_its_events_wait_for_the_ending(loop_thread):
    busy = threading.Event()
    outbox = LoopOutbox(loop_thread, busy.is_set, first_delay=60.0)
    armed = threading.Event()

    def queued() -> None:  # what PlexusServer.job_queued does on the loop
        outbox.expect()
        outbox.post_from_loop(seen.append, "status")
        armed.set()

    seen: list[str] = []
    loop_thread.call_soon_threadsafe(queued)
    armed.wait(5)
    busy.set()  # the worker took the job
    outbox.post(seen.append, "execution_start", urgent=False)
    outbox.post(seen.append, "executed", urgent=False)
    time.sleep(0.05)
    assert seen == []  # nothing woke the loop yet
    busy.clear()
    outbox.post(seen.append, "status after the ending")  # urgent: one drain for everything
    wait_until(lambda: len(seen) == 4)
    assert seen == ["status", "execution_start", "executed", "status after the ending"]


def test_a_call_can_see_a_later_call_of_itself_queued_behind_it(loop_thread):
    """What lets the server drop a status that a newer status follows in the same drain."""
    outbox = LoopOutbox(loop_thread, busy=lambda: False)
    seen: list[tuple[str, bool]] = []

    def status() -> None:
        seen.append(("status", outbox.queued(status)))

    def other(value: int) -> None:
        seen.append(("other", outbox.queued(status)))

    def post_all() -> None:  # on the loop, so that nothing drains between the posts
        outbox.post_from_loop(status)
        outbox.post_from_loop(other, 1)
        outbox.post_from_loop(status)

    loop_thread.call_soon_threadsafe(post_all)
    wait_until(lambda: len(seen) == 3)
    assert seen == [("status", True), ("other", True), ("status", False)]
