"""Workers: what sits between the durable queue and wherever prompts actually run.

The interface has two halves, so another execution place (``--cluster``: Ray actors, issue 9)
is a drop-in that only supplies the second one:

``QueueWorker`` (one thread per execution slot, in the server process, shared by every backend)
    claims the first pending job from :class:`~execution.jobs.queue.JobQueue` with a lease, runs it on
    its backend, records the outcome in history, and reports to :class:`WorkerHooks`
    (events, start, finish). The prompt's ending (``execution_success|error|interrupted`` and
    ``executing {node: null}``) is held back until the history row is committed, so a client
    that fetches ``/history/{id}`` on either always finds it.

``ExecutionBackend`` (the part that differs)
    ``execute(job, emit) -> JobOutcome`` runs one job and blocks until it ends, calling
    ``emit(event)`` for every :mod:`execution.events` event (from any thread);
    ``interrupt()`` stops the running job at its next check; ``free(unload_models,
    free_memory)`` drops caches/models (called between jobs, on the worker thread);
    ``close()``. A backend that loses its executor (a dead actor, a lost machine) raises
    :class:`WorkerLost`: the job is then handled exactly like after a server crash
    (``on_crash``: re-queued at the front or failed with the reason).
    :class:`LocalBackend` is the in-process implementation (``PromptRunner`` on this thread).
    A Ray backend would call ``actor.run.remote(job)`` and iterate its event stream, map
    ``interrupt`` to an actor flag (or ``ray.cancel``) and raise ``WorkerLost`` on
    ``RayActorError``; one ``QueueWorker`` per actor.

``WorkerPool`` supervises the workers: it renews the leases of live workers, restarts a worker
whose thread died (its job handled as after a crash), and hands back jobs whose lease expired.
It also enforces ``job_timeout`` (an interrupt once a job runs longer) and ``interrupt_grace``: a
job that does not stop within the grace after an interrupt (a node that never returns) is
recorded as failed, its thread is abandoned (Python cannot kill it; it reports nothing more) and
a fresh worker with a fresh backend runs the next job.
SQLite stays the single source of truth; nothing is kept only in memory.
"""
from __future__ import annotations

import threading
import time
import traceback
import uuid
from typing import Any, Callable, Protocol

from execution.context import InterruptFlag
from execution.events import Event, EventSink, Executing, ExecutionError, ExecutionInterrupted
from execution.jobs.queue import JobOutcome, JobQueue, QueuedJob


_FINAL_EVENTS = frozenset({"execution_success", "execution_error", "execution_interrupted"})


class WorkerLost(Exception):
    """The backend lost its executor mid-job; the job is handled as after a crash."""


class ExecutionBackend(Protocol):
    def execute(self, job: QueuedJob, emit: EventSink) -> JobOutcome: ...
    def interrupt(self) -> None: ...
    def free(self, unload_models: bool, free_memory: bool) -> None: ...
    def close(self) -> None: ...


class WorkerHooks(Protocol):
    """How a worker tells the server what happens (called on the worker thread)."""

    def job_started(self, job: QueuedJob) -> None: ...
    def job_event(self, job: QueuedJob, event: Event) -> None: ...
    def job_finished(self, job: QueuedJob, outcome: JobOutcome) -> None: ...
    def queue_changed(self) -> None: ...


class LocalBackend:
    """Runs jobs in this process with a :class:`~execution.runner.PromptRunner` and its own cache."""

    def __init__(self, registry: Any, cache: Any, services: Any) -> None:
        from execution.runner import PromptRunner

        self.services = services
        self.cache = cache
        self.flag = InterruptFlag()
        self.runner = PromptRunner(registry, cache, services, self.flag)

    def execute(self, job: QueuedJob, emit: EventSink) -> JobOutcome:
        self.flag.clear()
        result = self.runner.run(job.prompt_id, job.prompt, job.outputs, emit, job.extra_data)
        meta = {node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
                for node in result.outputs}
        return JobOutcome(result.status, result.outputs, result.messages, meta, result.error)

    def interrupt(self) -> None:
        self.flag.set()

    def free(self, unload_models: bool, free_memory: bool) -> None:
        if free_memory:
            self.cache.clear()
        if (unload_models or free_memory) and self.services is not None and "models" in vars(self.services):
            self.services.models.free()

    def close(self) -> None:
        self.runner.close()


class QueueWorker:
    """One execution slot: a thread that claims jobs and runs them on a backend."""

    def __init__(self, queue: JobQueue, backend: ExecutionBackend, hooks: WorkerHooks, *,
                 worker_id: str | None = None, lease_seconds: float = 60.0, on_crash: str = "requeue") -> None:
        self.queue = queue
        self.backend = backend
        self.hooks = hooks
        self.worker_id = worker_id or f"local-{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.on_crash = on_crash
        self.current: QueuedJob | None = None
        self.started_at = 0.0  # monotonic, of the current job
        self.interrupted_at: float | None = None  # monotonic, of the first interrupt of the current job
        self.timed_out = False
        self.abandoned = False  # stuck in a node: replaced; whatever it does later is ignored
        self._wake = threading.Event()
        # A job stored as running on this worker while it waited (``start_directly``), and whether
        # it waits: both under ``_slot_lock``, so a job is handed over at most once.
        self._slot_lock = threading.Lock()
        self._handed: QueuedJob | None = None
        self._waiting = False
        self._stopping = False
        self._free_request: tuple[bool, bool] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"plexus-worker-{self.worker_id}", daemon=True)
        bind = getattr(backend, "bind_worker", None)  # a backend that hands jobs to its peers wakes them
        if bind is not None:
            bind(self)

    # -- control (any thread) --------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def start_directly(self, store: Callable[[str, float], QueuedJob]) -> QueuedJob | None:
        """If this worker waits for work, ``store(worker_id, lease_seconds)`` the job as running on it
        and hand it over in memory (no claim statement, no decoding); None when it is busy. The caller
        wakes it (``wake``). What ``store`` raises propagates, with nothing handed over."""
        if getattr(self.backend, "claim", None) is not None:  # a backend that places jobs itself
            return None
        with self._slot_lock:
            if not self._waiting or self._handed is not None or self._stopping:
                return None
            job = store(self.worker_id, self.lease_seconds)
            self._handed = job
            self._begin(job)  # running from now on: listed, interruptible, timed
            return job

    def _take_handed(self) -> QueuedJob | None:
        with self._slot_lock:
            job, self._handed = self._handed, None
            self._waiting = False
            return job

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self.backend.interrupt()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def interrupt(self, prompt_id: str | None = None, *, timed_out: bool = False) -> bool:
        """Interrupt the running job (only if it is ``prompt_id``, when given)."""
        job = self.current
        if job is None or (prompt_id is not None and job.prompt_id != prompt_id):
            return False
        self.timed_out = self.timed_out or timed_out
        if self.interrupted_at is None:
            self.interrupted_at = time.monotonic()
        self.backend.interrupt()
        return True

    def abandon(self) -> None:
        """Give up on a thread stuck in a node: it stops after the node returns, reporting nothing."""
        self.abandoned = True
        self._stopping = True

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """Applied between jobs, on the worker thread (caches are not thread-safe)."""
        previous = self._free_request or (False, False)
        self._free_request = (previous[0] or unload_models, previous[1] or free_memory)
        self._wake.set()

    # -- the loop (worker thread) ----------------------------------------------------------------
    def _loop(self) -> None:
        after_job = False
        while not self._stopping:
            self._apply_free()
            # Right after a job, an empty queue needs no claim (one SQLite statement per prompt);
            # after any wait (woken, or a second passed) the worker always claims.
            job = self._take_handed()
            if job is None and (not after_job or self.queue.may_have_pending()):
                job = self._claim()
            if job is None:
                with self._slot_lock:
                    self._waiting = self._handed is None
                if self._waiting:
                    self._wake.wait(1.0)
                self._wake.clear()  # a job handed over meanwhile is taken first on the next turn
                after_job = False
                continue
            self._run(job)
            after_job = True

    def _claim(self) -> QueuedJob | None:
        """A backend with its own placement policy (the cluster's model affinity) chooses the job."""
        choose = getattr(self.backend, "claim", None)
        if choose is not None:
            return choose(self.queue, self.worker_id, self.lease_seconds)
        return self.queue.claim(self.worker_id, self.lease_seconds)

    def _apply_free(self) -> None:
        request, self._free_request = self._free_request, None
        if request:
            try:
                self.backend.free(*request)
            except Exception:  # noqa: BLE001 - freeing must never stop the worker
                traceback.print_exc()

    def _begin(self, job: QueuedJob) -> None:
        self.started_at, self.interrupted_at, self.timed_out = time.monotonic(), None, False
        self.current = job

    def _run(self, job: QueuedJob) -> None:
        if self.current is not job:  # a job handed over was begun when it was stored
            self._begin(job)
        held_end: list[Event] = []

        def emit(event: Event) -> None:
            if self.abandoned:
                return
            if held_end or event.type in _FINAL_EVENTS or (isinstance(event, Executing) and event.node is None):
                held_end.append(event)  # the prompt's ending: sent once history is committed
                return
            self.hooks.job_event(job, event)

        self.hooks.job_started(job)
        try:
            outcome = self.backend.execute(job, emit)
            if self.abandoned:  # the pool already recorded this job and runs others
                return
        except WorkerLost as lost:
            if self.abandoned:
                return
            self.queue.recover_running(self.on_crash, worker_id=self.worker_id, reason=f"worker lost: {lost}")
            self.current = None
            if self.queue.state_of(job.prompt_id) == "interrupted":  # not re-queued: tell the clients
                self.hooks.job_event(job, ExecutionInterrupted(job.prompt_id))
                self.hooks.job_event(job, Executing(job.prompt_id, node=None))
            self.hooks.queue_changed()
            return
        except Exception as exc:  # noqa: BLE001 - a backend bug fails this job, not the worker
            if self.abandoned:
                return
            failure = ExecutionError(job.prompt_id, exception_message=str(exc),
                                     exception_type=f"{type(exc).__module__}.{type(exc).__name__}",
                                     traceback=traceback.format_exception(type(exc), exc, exc.__traceback__))
            self.hooks.job_event(job, failure)
            outcome = JobOutcome("error", messages=[[failure.type, failure.data()]], error=failure.data())
        if self.timed_out and outcome.status == "interrupted":  # stopped by --job-timeout: a failure
            failure = timeout_failure(job, time.monotonic() - self.started_at)
            outcome = JobOutcome("error", outcome.outputs, outcome.messages + [[failure.type, failure.data()]],
                                 outcome.meta, failure.data())
            held_end = [failure, Executing(job.prompt_id, node=None)]
        if self._stopping and outcome.status == "interrupted":  # shutting down: handled as a crash
            self.queue.recover_running(self.on_crash, worker_id=self.worker_id, reason="the server was stopped")
            self.current = None
            return
        self.queue.complete(job.prompt_id, outcome)
        self.current = None
        for event in held_end or [Executing(job.prompt_id, node=None)]:
            self.hooks.job_event(job, event)
        self.hooks.job_finished(job, outcome)


def timeout_failure(job: QueuedJob, seconds: float) -> ExecutionError:
    return ExecutionError(job.prompt_id, exception_message=f"the job was stopped after {seconds:.1f} s "
                          f"(--job-timeout)", exception_type="TimeoutError")


BackendFactory = Callable[[], ExecutionBackend]


class WorkerPool:
    """Starts the workers and keeps them alive; renews leases; reclaims lost jobs."""

    def __init__(self, queue: JobQueue, backend_factory: BackendFactory, hooks: WorkerHooks, *,
                 count: int = 1, on_crash: str = "requeue", lease_seconds: float = 60.0,
                 supervise_every: float = 0.25, job_timeout: float | None = None,
                 interrupt_grace: float = 10.0) -> None:
        self.queue = queue
        self.backend_factory = backend_factory
        self.hooks = hooks
        self.on_crash = on_crash
        self.lease_seconds = lease_seconds
        self.supervise_every = supervise_every
        self.job_timeout = job_timeout
        self.interrupt_grace = interrupt_grace
        self.workers: list[QueueWorker] = [self._new_worker() for _ in range(count)]
        self.restarts = 0
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="plexus-supervisor", daemon=True)

    def _new_worker(self) -> QueueWorker:
        return QueueWorker(self.queue, self.backend_factory(), self.hooks, lease_seconds=self.lease_seconds,
                           on_crash=self.on_crash)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        self._supervisor.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._supervisor.is_alive():
            self._supervisor.join(5.0)
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            try:
                worker.backend.close()
            except Exception:  # noqa: BLE001
                pass

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    def start_directly(self, store: Callable[[str, float], QueuedJob]) -> QueuedJob | None:
        """Store a job as running on a waiting worker and hand it over (see ``QueueWorker.start_directly``);
        None when every worker is busy. Only for a queue with nothing pending, so no job is overtaken."""
        if self.queue.may_have_pending():
            return None
        for worker in self.workers:
            job = worker.start_directly(store)
            if job is not None:
                return job
        return None

    def interrupt(self, prompt_id: str | None = None) -> bool:
        return any([worker.interrupt(prompt_id) for worker in self.workers])

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        for worker in self.workers:
            worker.request_free(unload_models, free_memory)

    def running_ids(self) -> list[str]:
        return [w.current.prompt_id for w in self.workers if w.current is not None]

    def describe(self) -> list[dict]:
        """Each worker, what it runs and where (a backend may add its device and loaded models)."""
        workers = []
        for worker in self.workers:
            entry = {"worker_id": worker.worker_id, "alive": worker.is_alive(),
                     "running": worker.current.prompt_id if worker.current is not None else None}
            describe = getattr(worker.backend, "describe", None)
            if describe is not None:
                try:
                    entry.update(describe(), running=entry["running"])
                except Exception as exc:  # noqa: BLE001 - stats must not fail
                    entry["describe_error"] = str(exc)
            workers.append(entry)
        return workers

    def _supervise(self) -> None:
        renew_at = checkpoint_at = 0.0
        while not self._stopping.wait(self.supervise_every):
            try:
                self.check_workers()
                self.check_stuck_jobs()
                if time.monotonic() >= checkpoint_at:  # the database's fsyncs happen here, not in requests
                    checkpoint_at = time.monotonic() + 2.0
                    self.queue.checkpoint()
                if time.monotonic() >= renew_at:
                    renew_at = time.monotonic() + self.lease_seconds / 4
                    for worker in self.workers:
                        self.queue.renew_leases(worker.worker_id, self.lease_seconds)
                    if self.queue.recover_running(self.on_crash, expired_only=True, reason="its lease expired"):
                        self.hooks.queue_changed()
                        self.wake()
            except Exception:  # noqa: BLE001 - the supervisor must outlive anything
                traceback.print_exc()

    def check_stuck_jobs(self) -> None:
        """Interrupt jobs past ``job_timeout``; replace workers that ignore an interrupt past the grace."""
        now = time.monotonic()
        for index, worker in enumerate(self.workers):
            job = worker.current
            if job is None or worker.abandoned:
                continue
            if self.job_timeout and worker.interrupted_at is None and now - worker.started_at > self.job_timeout:
                worker.interrupt(job.prompt_id, timed_out=True)
            if worker.interrupted_at is not None and now - worker.interrupted_at > self.interrupt_grace:
                self._abandon(index, worker, job, now - worker.started_at)

    def _abandon(self, index: int, worker: QueueWorker, job: QueuedJob, ran_for: float) -> None:
        worker.abandon()
        if worker.timed_out:
            end: Event = timeout_failure(job, ran_for)
            outcome = JobOutcome("error", messages=[[end.type, end.data()]], error=end.data())
        else:
            end = ExecutionInterrupted(job.prompt_id)
            reason = f"the node did not stop within {self.interrupt_grace:g} s of the interrupt; abandoned"
            outcome = JobOutcome("interrupted", messages=[[end.type, dict(end.data(), reason=reason)]],
                                 error={"reason": reason})
        self.queue.complete(job.prompt_id, outcome)
        self.hooks.job_event(job, end)
        self.hooks.job_event(job, Executing(job.prompt_id, node=None))
        self.hooks.job_finished(job, outcome)
        replacement = self._new_worker()
        self.workers[index] = replacement
        self.restarts += 1
        replacement.start()
        print(f"[plexus] job {job.prompt_id} did not stop after an interrupt; a fresh worker runs the next job",
              flush=True)

    def check_workers(self) -> None:
        """Restart workers whose thread died; their job is handled as after a crash."""
        for index, worker in enumerate(self.workers):
            if worker.is_alive() or self._stopping.is_set() or worker.abandoned:
                continue
            lost_job = worker.current
            self.queue.recover_running(self.on_crash, worker_id=worker.worker_id,
                                       reason="the worker thread died while it ran")
            if lost_job is not None and self.queue.state_of(lost_job.prompt_id) == "interrupted":
                self.hooks.job_event(lost_job, ExecutionInterrupted(lost_job.prompt_id))
                self.hooks.job_event(lost_job, Executing(lost_job.prompt_id, node=None))
            try:
                worker.backend.close()
            except Exception:  # noqa: BLE001
                pass
            replacement = self._new_worker()
            self.workers[index] = replacement
            self.restarts += 1
            replacement.start()
            self.hooks.queue_changed()
