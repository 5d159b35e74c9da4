"""A job handed straight to a waiting worker (``WorkerPool.start_directly``): stored as running in
one statement, run from memory, never twice, never ahead of a job already waiting in line, and
handed back after a crash like any claimed job."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from execution.events import Executing, ExecutionSuccess
from execution.jobs.queue import JobOutcome, JobQueue
from execution.jobs.worker import WorkerPool

PROMPT = {"1": {"class_type": "X", "inputs": {}}}


class RecordingBackend:
    """Records the jobs it runs; a job whose class_type is 'hold' waits for ``release``."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.prompts: list[dict] = []
        self.release = threading.Event()
        self.holding = threading.Event()

    def execute(self, job, emit):
        if job.prompt["1"]["class_type"] == "hold":
            self.holding.set()
            self.release.wait(10)
        self.ran.append(job.prompt_id)
        self.prompts.append(job.prompt)
        emit(ExecutionSuccess(job.prompt_id))
        emit(Executing(job.prompt_id, node=None))
        return JobOutcome("success", {"1": {"v": [job.prompt_id]}})

    def interrupt(self):
        pass

    def free(self, unload_models, free_memory):
        pass

    def close(self):
        pass


class Hooks:
    def __init__(self) -> None:
        self.finished: list[str] = []

    def job_started(self, job):
        pass

    def job_event(self, job, event):
        pass

    def job_finished(self, job, outcome):
        self.finished.append(job.prompt_id)

    def queue_changed(self):
        pass


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def start_directly(pool: WorkerPool, queue: JobQueue, prompt_id: str, prompt: dict = PROMPT):
    return pool.start_directly(lambda worker_id, lease: queue.enqueue_running(
        prompt_id, prompt, {"client_id": "c"}, ["1"], worker_id=worker_id, lease_seconds=lease, client_id="c"))


@dataclass
class Running:
    queue: JobQueue
    pool: WorkerPool
    backend: RecordingBackend
    hooks: Hooks


@pytest.fixture
def running(tmp_path):
    """A queue and a one-worker pool, the worker waiting for work; stopped and closed afterwards."""
    backend, hooks = RecordingBackend(), Hooks()
    queue = JobQueue(tmp_path / "q.sqlite3")
    pool = WorkerPool(queue, lambda: backend, hooks, supervise_every=0.05)
    pool.start()
    try:
        wait_until(lambda: pool.workers[0]._waiting)
        yield Running(queue, pool, backend, hooks)
    finally:
        pool.stop()
        queue.close()


def test_a_waiting_worker_runs_the_job_it_was_handed(running):
    queue, pool, backend, hooks = running.queue, running.pool, running.backend, running.hooks
    job = start_directly(pool, queue, "direct")
    assert job is not None and job.number == 0 and job.attempts == 1
    assert queue.state_of("direct") == "running" and queue.pending() == []
    assert [j.prompt_id for j in queue.running()] == ["direct"]  # GET /queue lists it as running
    pool.wake()
    wait_until(lambda: hooks.finished == ["direct"])
    assert backend.ran == ["direct"] and backend.prompts[0] is PROMPT  # from memory, not decoded
    assert queue.state_of("direct") == "success" and queue.remaining() == 0
    assert queue.job("direct")["outputs"] == {"1": {"v": ["direct"]}}


def test_a_busy_worker_is_not_handed_a_job_and_nothing_overtakes_the_line(running):
    queue, pool, backend, hooks = running.queue, running.pool, running.backend, running.hooks
    assert start_directly(pool, queue, "slow", {"1": {"class_type": "hold", "inputs": {}}}) is not None
    pool.wake()
    assert backend.holding.wait(5)
    assert start_directly(pool, queue, "second") is None  # busy: the caller queues it instead
    queue.enqueue("second", PROMPT, {}, ["1"])
    backend.release.set()
    wait_until(lambda: hooks.finished == ["slow", "second"])
    # A job waits in line while the worker is between jobs: no direct start may overtake it.
    backend.release.clear()
    wait_until(lambda: pool.workers[0]._waiting)  # the worker is back to waiting for work
    assert start_directly(pool, queue, "hold", {"1": {"class_type": "hold", "inputs": {}}}) is not None
    pool.wake()
    assert backend.holding.wait(5)
    queue.enqueue("queued", PROMPT, {}, ["1"])
    assert start_directly(pool, queue, "late") is None
    backend.release.set()
    wait_until(lambda: hooks.finished[-2:] == ["hold", "queued"])
    assert queue.state_of("late") is None  # refused, so never stored


def test_each_job_is_handed_over_once_under_racing_posts(running):
    queue, pool, backend, hooks = running.queue, running.pool, running.backend, running.hooks
    lock = threading.Lock()
    stored: list[str] = []

    def post(index: int) -> None:
        prompt_id = f"p{index}"
        with lock:  # the server's loop thread serialises POSTs; workers race it
            if start_directly(pool, queue, prompt_id) is None:
                queue.enqueue(prompt_id, PROMPT, {}, ["1"])
            stored.append(prompt_id)
        pool.wake()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(60)]
    for thread in threads:
        thread.start()
        time.sleep(0.001)
    for thread in threads:
        thread.join()
    wait_until(lambda: len(hooks.finished) == 60)
    assert sorted(backend.ran) == sorted(stored)  # every job ran exactly once
    assert queue.remaining() == 0


def test_a_directly_started_job_is_handed_back_after_a_crash(tmp_path):
    queue = JobQueue(tmp_path / "q.sqlite3")
    queue.enqueue_running("orphan", PROMPT, {}, ["1"], worker_id="gone", lease_seconds=60)
    queue.close()  # the server died before the worker ran it
    reopened = JobQueue(tmp_path / "q.sqlite3")
    try:
        assert reopened.recover_running("requeue") == ["orphan"]
        job = reopened.claim("w")
        assert job.prompt_id == "orphan" and job.attempts == 2
    finally:
        reopened.close()
