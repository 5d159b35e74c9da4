"""The durable SQLite queue and the worker pool, in-process."""
from __future__ import annotations

import threading
import time

import pytest

from execution.events import Executing, ExecutionStart, ExecutionSuccess
from execution.jobs.queue import MAX_ATTEMPTS, DuplicatePromptId, JobOutcome, JobQueue
from execution.jobs.worker import WorkerLost, WorkerPool


@pytest.fixture
def queue(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite3", history_max=5)
    yield q
    q.close()


def add(q: JobQueue, prompt_id: str, **kwargs) -> float:
    return q.enqueue(prompt_id, {"1": {"class_type": "X", "inputs": {}}}, {"client_id": "c"}, ["1"], **kwargs)


def test_order_number_and_front(queue):
    assert add(queue, "a") == 0
    assert add(queue, "b") == 1
    assert add(queue, "c", front=True) == -2
    assert add(queue, "d", number=0.5) == 0.5
    assert add(queue, "e", number=7, front=True) == 7  # a given number is used as is
    assert add(queue, "f") == 3  # only counted numbers advance the counter
    assert [j.prompt_id for j in queue.pending()] == ["c", "a", "d", "b", "f", "e"]
    assert queue.pending()[0].queue_item()[:2] == [-2, "c"]
    assert queue.claim("w").prompt_id == "c"
    assert queue.remaining() == 6
    assert [j.prompt_id for j in queue.running()] == ["c"]


def test_duplicate_prompt_id_is_refused(queue):
    add(queue, "same")
    with pytest.raises(DuplicatePromptId):
        add(queue, "same")
    assert len(queue.pending()) == 1


def test_delete_and_clear_pending_only(queue):
    for name in "abcd":
        add(queue, name)
    running = queue.claim("w")
    assert queue.delete_pending(["b", running.prompt_id]) == 1
    assert [j.prompt_id for j in queue.pending()] == ["c", "d"]
    queue.clear_pending()
    assert queue.pending() == [] and queue.state_of("a") == "running"


def test_history_paging_cap_and_delete(queue):
    for index in range(8):
        add(queue, f"p{index}")
        job = queue.claim("w")
        queue.complete(job.prompt_id, JobOutcome("success", {"1": {"images": []}}, [["execution_start", {}]]))
    history = queue.history()
    assert list(history) == ["p3", "p4", "p5", "p6", "p7"]  # capped at history_max=5, oldest dropped
    assert history["p7"]["status"] == {"status_str": "success", "completed": True,
                                       "messages": [["execution_start", {}]]}
    assert history["p7"]["prompt"][1] == "p7" and history["p7"]["prompt"][4] == ["1"]
    assert list(queue.history(max_items=2)) == ["p6", "p7"]
    assert list(queue.history(max_items=2, offset=1)) == ["p4", "p5"]
    assert queue.delete_history(["p4"]) == 1
    assert "p4" not in queue.history()
    queue.clear_history()
    assert queue.history() == {}


def test_reopen_keeps_everything_and_numbers_grow(tmp_path):
    path = tmp_path / "q.sqlite3"
    q = JobQueue(path)
    for name in "abc":
        add(q, name)
    job = q.claim("w")
    q.complete(job.prompt_id, JobOutcome("success"))
    q.claim("w")  # b is running when the "process dies"
    q.close()
    q = JobQueue(path)
    assert q.recover_running("requeue") == ["b"]
    assert [j.prompt_id for j in q.pending()] == ["b", "c"]
    assert list(q.history()) == ["a"]
    assert add(q, "d") == 3
    assert q.integrity_ok()
    q.close()


def test_recover_fail_records_reason_and_attempts_cap(queue):
    add(queue, "x")
    queue.claim("w")
    queue.recover_running("fail", reason="server died")
    entry = queue.history()["x"]
    assert entry["status"]["status_str"] == "error" and not entry["status"]["completed"]
    assert entry["status"]["messages"][0][0] == "execution_interrupted"
    assert entry["status"]["messages"][0][1]["reason"] == "server died"
    add(queue, "poison")
    for _ in range(MAX_ATTEMPTS):
        assert queue.claim("w").prompt_id == "poison"
        queue.recover_running("requeue")
    assert queue.state_of("poison") == "interrupted"  # gave up after MAX_ATTEMPTS crashes


def test_expired_lease_is_recovered(queue):
    add(queue, "a")
    queue.claim("ghost", lease_seconds=-1)
    assert queue.recover_running("requeue", expired_only=True) == ["a"]
    assert queue.state_of("a") == "pending"


def test_jobs_view(queue):
    add(queue, "a")
    add(queue, "b")
    queue.claim("w")
    queue.complete("a", JobOutcome("error", error={"exception_message": "bad"}))
    jobs, total = queue.jobs()
    assert total == 2 and {j["id"]: j["status"] for j in jobs} == {"a": "failed", "b": "pending"}
    jobs, total = queue.jobs(["pending"])
    assert total == 1 and jobs[0]["id"] == "b"
    assert queue.job("a")["execution_error"] == {"exception_message": "bad"}
    assert queue.job("missing") is None


class Hooks:
    def __init__(self, queue=None):
        self.events, self.finished = [], []
        self.queue = queue
        self.states_at_end = []

    def job_started(self, job):
        pass

    def job_event(self, job, event):
        self.events.append((job.prompt_id, event))
        if self.queue is not None and event.type in ("execution_success", "executing"):
            self.states_at_end.append((job.prompt_id, event.type, self.queue.state_of(job.prompt_id)))

    def job_finished(self, job, outcome):
        self.finished.append((job.prompt_id, outcome.status))

    def queue_changed(self):
        pass


class FakeBackend:
    """Runs jobs by their class_type: 'ok', 'die' (thread dies), 'lost' (WorkerLost), 'bug'."""

    def __init__(self):
        self.interrupted = threading.Event()

    def execute(self, job, emit):
        kind = job.prompt["1"]["class_type"]
        emit(ExecutionStart(job.prompt_id))
        if kind == "die":
            raise SystemExit("thread dies")
        if kind == "lost":
            raise WorkerLost("actor gone")
        if kind == "bug":
            raise RuntimeError("backend bug")
        emit(ExecutionSuccess(job.prompt_id))
        emit(Executing(job.prompt_id, node=None))
        return JobOutcome("success", {"1": {"v": [1]}})

    def interrupt(self):
        self.interrupted.set()

    def free(self, unload_models, free_memory):
        pass

    def close(self):
        pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_pool_restarts_dead_worker_and_handles_its_job(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite3")
    hooks = Hooks(q)
    pool = WorkerPool(q, FakeBackend, hooks, on_crash="fail", supervise_every=0.05)
    pool.start()
    try:
        for prompt_id, kind in [("d", "die"), ("b", "bug"), ("ok", "ok")]:
            q.enqueue(prompt_id, {"1": {"class_type": kind, "inputs": {}}}, {}, ["1"])
            pool.wake()
        deadline = time.monotonic() + 10
        while q.remaining() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.restarts == 1
        assert q.state_of("d") == "interrupted"  # the dead thread's job, handled as after a crash
        assert q.state_of("b") == "error"  # a backend exception fails only its job
        assert q.state_of("ok") == "success"
        failures = [(p, e.exception_message) for p, e in hooks.events if e.type == "execution_error"]
        assert failures == [("b", "backend bug")]  # the client hears about a backend failure too
        ends = [p for p, e in hooks.events if isinstance(e, Executing) and e.node is None]
        assert sorted(ends) == ["b", "d", "ok"]  # every client learns its prompt ended
        # the ending is only sent once the history row is committed
        assert [s for s in hooks.states_at_end if s[0] == "ok"] == [
            ("ok", "execution_success", "success"), ("ok", "executing", "success")]
    finally:
        pool.stop()
        q.close()


def test_worker_lost_requeues(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite3")
    q.enqueue("l", {"1": {"class_type": "lost", "inputs": {}}}, {}, ["1"])
    pool = WorkerPool(q, FakeBackend, Hooks(), on_crash="requeue", supervise_every=0.05)
    pool.start()
    try:
        deadline = time.monotonic() + 10
        while q.state_of("l") != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.02)
        # re-queued after each loss, then given up after MAX_ATTEMPTS
        assert q.state_of("l") == "interrupted"
        assert q.job("l")["execution_error"]["reason"].startswith("worker lost")
    finally:
        pool.stop()
        q.close()


def test_checkpoint_moves_the_wal_into_the_database(tmp_path):
    q = JobQueue(tmp_path / "q.sqlite3")
    for index in range(200):
        add(q, f"c{index}")
    wal = tmp_path / "q.sqlite3-wal"
    assert wal.stat().st_size > 0
    q.checkpoint()
    reader = JobQueue(tmp_path / "q.sqlite3")  # a fresh connection sees everything
    assert len(reader.pending()) == 200 and reader.integrity_ok()
    reader.close()
    q.close()


def test_database_from_an_older_schema_is_migrated_without_losing_jobs(tmp_path):
    import json
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)  # the first table layout: no attempts, no lane
    old.execute("CREATE TABLE jobs (prompt_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, number REAL NOT NULL, "
                "state TEXT NOT NULL, prompt TEXT NOT NULL, extra_data TEXT NOT NULL, outputs TEXT NOT NULL, "
                "client_id TEXT, created REAL NOT NULL, started REAL, finished REAL, finish_seq INTEGER, "
                "worker_id TEXT, lease_expires REAL, result TEXT)")
    old.execute("INSERT INTO jobs (prompt_id, seq, number, state, prompt, extra_data, outputs, created) "
                "VALUES ('kept', 1, 0, 'pending', ?, '{}', '[\"1\"]', 0)",
                (json.dumps({"1": {"class_type": "X", "inputs": {}}}),))
    old.commit()
    old.close()
    q = JobQueue(path)
    try:
        assert [j.prompt_id for j in q.pending()] == ["kept"]
        assert add(q, "new") == 1
        assert q.claim("w").prompt_id == "kept"
    finally:
        q.close()
