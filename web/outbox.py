"""Calls from worker threads to the server's event loop: in order, with few wake-ups.

Waking the loop from another thread costs a system call and, because both threads then want the GIL,
usually a few context switches; per trivial prompt that was a large part of the server's CPU. So
only what must go out at once wakes the loop (an *urgent* post: the status that follows every job's
end, streamed text such as VLM tokens, plugin messages). What else a job reports (its start, nodes
started and finished, progress, previews) waits in the same queue, and while a job runs the loop
drains it on a timer: first ``DRAIN_FIRST`` seconds after an urgent drain (or after ``expect()``,
called when a prompt is queued), then doubling up to ``DRAIN_MAX``. A prompt that takes less than
``DRAIN_FIRST`` costs the loop one wake-up, and a long node's events are at most ``DRAIN_MAX`` late.
A post that finds no timer armed wakes the loop itself, so nothing is ever stranded.
"""
from __future__ import annotations

import asyncio
import collections
import traceback
from typing import Any, Callable

DRAIN_FIRST = 0.01
DRAIN_MAX = 0.1


class LoopOutbox:
    """``post(fn, *args)`` from any thread runs ``fn(*args)`` on ``loop``, in posting order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, busy: Callable[[], bool], *,
                 first_delay: float = DRAIN_FIRST, max_delay: float = DRAIN_MAX) -> None:
        self.loop = loop
        self.busy = busy  # a job is running: keep draining on the timer
        self.first_delay, self.max_delay = first_delay, max_delay
        self._calls: collections.deque[tuple[Callable, tuple]] = collections.deque()
        self._wake_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._delay = first_delay

    def post(self, fn: Callable, *args: Any, urgent: bool = True) -> None:
        self._calls.append((fn, args))
        # Without an armed timer nothing would drain a call that is not urgent: wake for it too.
        if (urgent or self._timer is None) and not self._wake_scheduled:
            self._wake_scheduled = True
            self.loop.call_soon_threadsafe(self._drain_now)

    def post_from_loop(self, fn: Callable, *args: Any) -> None:
        """``post(fn, *args, urgent=False)`` for the loop's own thread (no system call to wake it)."""
        self._calls.append((fn, args))
        if self._timer is None and not self._wake_scheduled:
            self._wake_scheduled = True
            self.loop.call_soon(self._drain_now)

    def queued(self, fn: Callable) -> bool:
        """Whether a call ``fn()`` (no arguments) is waiting in the queue. One C-level search of the
        deque: a worker's ``post`` cannot interleave with it (a Python loop over it could see the
        deque change and raise)."""
        return (fn, ()) in self._calls

    def expect(self) -> None:
        """A job is about to run (loop thread): arm the timer, so its first events need no wake-up."""
        if self._timer is None:
            self._delay = self.first_delay
            self._timer = self.loop.call_later(self._delay, self._tick)

    def _drain_now(self) -> None:
        self._wake_scheduled = False  # cleared before draining: a racing post is never stranded
        self._delay = self.first_delay
        self._drain()

    def _tick(self) -> None:
        self._timer = None
        self._delay = min(self._delay * 2, self.max_delay)
        self._drain()

    def _drain(self) -> None:
        calls = self._calls
        while True:
            while calls:
                fn, args = calls.popleft()
                try:
                    fn(*args)
                except Exception:  # noqa: BLE001 - one bad message must not stop the others
                    traceback.print_exc()
            if self.busy():
                if self._timer is None:
                    self._timer = self.loop.call_later(self._delay, self._tick)
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not calls:  # a call posted while the timer was being cancelled saw it armed
                return
