"""Ray actors as the execution backend (``--cluster ray://HOST:PORT | HOST:PORT | auto | local``;
``ray://`` is the head's GCS address, see :func:`connect`).

The durable SQLite queue stays the source of truth: one :class:`~execution.jobs.worker.QueueWorker`
thread per actor claims jobs (with a lease, renewed by the pool while the worker lives) and
runs each on its actor through :class:`RayBackend`, which satisfies the ``ExecutionBackend``
interface:

- ``execute``: calls the actor's streaming ``run`` and forwards its events to the server's
  hooks, so websocket clients see exactly the single-machine stream. Output files come back
  with their ``executed`` event and are written into the server's folders
  (:mod:`execution.cluster.files`), unless ``--cluster-outputs shared`` says every host sees
  the same output folder. A re-dispatched job starts with an ``execution_restarted`` event
  (``{prompt_id, attempt, reason}``), so clients reset their progress instead of seeing
  interleaved steps.
- a dead or unreachable actor raises :class:`~execution.jobs.worker.WorkerLost`: the queue re-queues
  the job (or fails it, per ``--on-crash``), and the backend starts a fresh actor; the job is
  recorded once, by whichever worker finishes it.
- ``claim``: asks the shared :class:`~execution.cluster.scheduler.AffinityScheduler` which
  pending job this actor should take (model affinity, then the least busy), and only once the
  actor is up.
- ``interrupt``: sets the actor's flag for the job it runs (checked at the next step/node).

Actors are owned by the server process (not detached), so Ray ends them when the server dies;
at start-up the server also kills any actor a previous run of the *same* server (same user
folder and host) left behind, before its queue re-queues the jobs they had. No orphan can
finish a job unseen: outputs are written by the server only, and only for jobs it dispatched.

Ray is imported lazily, only when ``--cluster`` is given.
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from execution.cluster.files import OutputWriter, referenced_inputs, rename_refs
from execution.cluster.scheduler import AffinityScheduler, model_keys
from execution.events import Event, EventSink, Executed, now_ms
from execution.jobs.queue import JobOutcome, JobQueue, QueuedJob
from execution.jobs.worker import WorkerLost

RAY_NAMESPACE = "plexus"
ROOT = Path(__file__).resolve().parents[2]
ACTOR_CONCURRENCY = 4  # run + interrupt + info/free, served by the actor's thread pool
RETRY_SECONDS = 5.0


@dataclass(slots=True)
class ExecutionRestarted(Event):
    """A job lost with its worker starts again; what clients saw of the earlier attempt is void."""

    attempt: int = 2
    reason: str = ""
    timestamp: int = field(default_factory=now_ms)
    type = "execution_restarted"

    def data(self) -> dict:
        return {"prompt_id": self.prompt_id, "attempt": self.attempt, "reason": self.reason,
                "timestamp": self.timestamp}


@dataclass
class ActorSpec:
    """One execution slot of the cluster: a GPU share or a CPU-only actor."""

    slot_id: str
    num_gpus: float
    num_cpus: float


def connect(address: str) -> None:
    """Join the Ray cluster (``local`` starts a private one), once per process.

    ``ray://HOST:PORT`` names the head's GCS port (``ray start --head --port``) and Plexus joins as a
    regular driver: Ray Client (the ``ray[client]`` extra, port 10001) is not used, because the
    server streams every job's events and must sit on the cluster's network anyway.
    """
    import ray

    if ray.is_initialized():
        return
    if address.startswith("ray://"):
        address = address[len("ray://"):]
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"namespace": RAY_NAMESPACE, "log_to_driver": True}
    if address == "local":
        ray.init(include_dashboard=False, **kwargs)
    else:
        ray.init(address=address, **kwargs)


def _server_key(user_dir: str) -> str:
    """The same server (user folder on this host) across restarts; other servers are left alone."""
    return hashlib.sha1(f"{socket.gethostname()}:{os.path.realpath(user_dir)}".encode()).hexdigest()[:10]


class RayCluster:
    """What the backends of one server share: the connection, specs, scheduler and output writer."""

    def __init__(self, args: Any, services: Any, server_nodes: list[str] | None = None, *,
                 assembly_module: str) -> None:
        import ray

        self.ray = ray
        self.assembly_module = assembly_module
        self.server_nodes = set(server_nodes or [])
        self._actor_class: Any = None
        self.args = args
        paths = services.paths
        self.server_roots = {"output": Path(paths.output_dir), "temp": Path(paths.temp_dir),
                             "input": Path(paths.input_dir)}
        self.outputs_mode = getattr(args, "cluster_outputs", None) or "return"
        self.writer = OutputWriter(self.server_roots)
        self.scheduler = AffinityScheduler()
        self.server_key = _server_key(str(paths.user_dir))
        self.session = uuid.uuid4().hex[:8]
        self.preview_max_side = getattr(services, "preview_max_side", 512)
        self._paths = {"output": str(paths.output_dir), "input": str(paths.input_dir),
                       "temp": str(paths.temp_dir), "user": str(paths.user_dir)}
        self._free_specs: list[ActorSpec] = []
        self._lock = threading.Lock()
        self.backends: dict[str, "RayBackend"] = {}
        self.specs = self._plan()

    def _plan(self) -> list[ActorSpec]:
        per_gpu = max(0, int(getattr(self.args, "workers_per_gpu", 1) or 0))
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        specs = [ActorSpec(f"gpu{g}.{w}", 1.0 / per_gpu, 0) for g in range(gpus) for w in range(per_gpu)]
        specs += [ActorSpec(f"cpu{c}", 0, 1) for c in range(int(getattr(self.args, "cluster_cpu_workers", 0) or 0))]
        if not specs:
            raise RuntimeError("the Ray cluster offers no GPU; give --cluster-cpu-workers N for CPU-only workers")
        self._free_specs = list(reversed(specs))
        return specs

    def take_spec(self) -> ActorSpec:
        with self._lock:
            return self._free_specs.pop() if self._free_specs else self.specs[0]

    def return_spec(self, spec: ActorSpec) -> None:
        with self._lock:
            if spec not in self._free_specs:
                self._free_specs.append(spec)

    def wake(self, slot_ids: list[str]) -> None:
        """Make these workers look at the queue now instead of at their next poll."""
        for slot_id in slot_ids:
            backend = self.backends.get(slot_id)
            if backend is not None and backend.worker is not None:
                backend.worker.wake()

    def actor_config(self, name: str) -> dict:
        args = {k: v for k, v in vars(self.args).items() if isinstance(v, (str, int, float, bool, list, type(None)))}
        return {"root": str(ROOT), "assembly": self.assembly_module, "name": name, "args": args, "outputs": self.outputs_mode, "paths": self._paths,
                "preview_max_side": self.preview_max_side}

    def create_actor(self, spec: ActorSpec, generation: int) -> tuple[Any, str]:
        from execution.cluster.actor import PlexusWorkerActor

        name = f"plexus-{self.server_key}-{self.session}-{spec.slot_id}-g{generation}"
        python_path = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        if self._actor_class is None:
            self._actor_class = self.ray.remote(PlexusWorkerActor)
        actor = self._actor_class.options(
            name=name, namespace=RAY_NAMESPACE, num_gpus=spec.num_gpus, num_cpus=spec.num_cpus,
            max_concurrency=ACTOR_CONCURRENCY, max_restarts=0,
            runtime_env={"env_vars": {"PYTHONPATH": python_path, "HF_HUB_OFFLINE": "1",
                                      "TRANSFORMERS_OFFLINE": "1"}},
        ).remote(self.actor_config(name))
        return actor, name

    def kill_leftovers(self) -> list[str]:
        """Kill actors a previous run of this server left (a crash, a kill -9)."""
        killed = []
        prefix = f"plexus-{self.server_key}-"
        for entry in self.ray.util.list_named_actors(all_namespaces=True):
            name, namespace = entry.get("name", ""), entry.get("namespace")
            if namespace != RAY_NAMESPACE or not name.startswith(prefix) or f"-{self.session}-" in name:
                continue
            try:
                self.ray.kill(self.ray.get_actor(name, namespace=RAY_NAMESPACE), no_restart=True)
                killed.append(name)
            except Exception:  # noqa: BLE001 - already gone
                pass
        return killed


def _lost_errors(ray: Any) -> tuple[type, ...]:
    exceptions = ray.exceptions
    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "ObjectLostError",
             "OwnerDiedError", "NodeDiedError", "GetTimeoutError")
    return tuple(getattr(exceptions, n) for n in names if hasattr(exceptions, n))


class RayBackend:
    """One Ray actor, driven by one queue worker."""

    def __init__(self, cluster: RayCluster, spec: ActorSpec) -> None:
        self.cluster = cluster
        self.ray = cluster.ray
        self.spec = spec
        self.slot_id = spec.slot_id
        self.lost_errors = _lost_errors(self.ray)
        self.actor: Any = None
        self.actor_name = ""
        self.info: dict = {}
        self.current_prompt: str | None = None
        self.restarts = 0
        self.missing_nodes: list[str] = []
        self._generation = 0
        self._ready_ref: Any = None
        self._ready = False
        self._retry_at = 0.0
        self._tell_peers = False
        self.worker: Any = None  # the QueueWorker driving this backend (bind_worker)
        cluster.backends[self.slot_id] = self
        self._start_actor()

    def bind_worker(self, worker: Any) -> None:
        self.worker = worker

    # -- the actor's life ------------------------------------------------------------------------
    def _start_actor(self) -> None:
        self._generation += 1
        self._ready = False
        self.actor, self.actor_name = self.cluster.create_actor(self.spec, self._generation)
        self._ready_ref = self.actor.info.remote(True)

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the actor is up (built its registry); restarts a failed one after a pause."""
        if self._ready:
            return True
        if self.actor is None:
            if time.monotonic() < self._retry_at:
                return False
            self._start_actor()
        done, _ = self.ray.wait([self._ready_ref], timeout=timeout)
        if not done:
            return False
        try:
            self.info = self.ray.get(self._ready_ref)
        except Exception as exc:  # noqa: BLE001 - the actor could not start: say why, retry later
            print(f"[plexus] cluster worker {self.actor_name} failed to start: {exc}", file=sys.stderr, flush=True)
            self._kill()
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return False
        self._ready = True
        missing = sorted(self.cluster.server_nodes - set(self.info.pop("node_names", [])))
        self.missing_nodes = missing
        if missing:
            print(f"[plexus] cluster worker {self.actor_name} on {self.info.get('hostname')} lacks {len(missing)} node "
                  f"type(s) the server has ({', '.join(missing[:8])}...): install the same custom nodes on every host",
                  file=sys.stderr, flush=True)
        device_key = f"{self.info.get('node_id')}:{','.join(self.info.get('gpu_ids') or []) or self.slot_id}"
        self.cluster.scheduler.register(self.slot_id, device_key)
        return True

    def _kill(self) -> None:
        actor, self.actor, self._ready = self.actor, None, False
        if actor is not None:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                pass

    def _lose(self, reason: BaseException) -> WorkerLost:
        """The actor is gone mid-job: forget it (and what it held); a fresh one starts now."""
        self.cluster.scheduler.lost(self.slot_id)
        self._kill()  # an unreachable actor must not go on and finish the job unseen
        self.restarts += 1
        self._tell_peers = True  # the job is re-queued after this returns; claim() wakes the others
        try:
            self._start_actor()
        except Exception:  # noqa: BLE001 - retried by ready()
            self._retry_at = time.monotonic() + RETRY_SECONDS
        return WorkerLost(f"{self.actor_name}: {type(reason).__name__}: {reason}")

    # -- the queue side --------------------------------------------------------------------------
    def claim(self, queue: JobQueue, worker_id: str, lease_seconds: float) -> QueuedJob | None:
        """The pending job this actor should run (affinity, then least busy), claimed with a lease."""
        if not self.ready():
            if self._tell_peers:
                self._tell_peers = False
                self.cluster.wake([s for s in self.cluster.backends if s != self.slot_id])
            return None
        others: list[str] = []
        job = self.cluster.scheduler.choose(self.slot_id, queue.pending(limit=self.cluster.scheduler.window), others)
        self.cluster.wake(others)
        if job is None:
            return None
        claimed = queue.claim(worker_id, lease_seconds, prompt_id=job.prompt_id)
        if claimed is None:
            self.cluster.scheduler.release(self.slot_id)
        return claimed

    # -- ExecutionBackend ------------------------------------------------------------------------
    def execute(self, job: QueuedJob, emit: EventSink) -> JobOutcome:
        keys = model_keys(job.prompt)
        self.current_prompt = job.prompt_id
        ok = False
        try:
            if not self.ready(timeout=60.0):
                raise self._lose(RuntimeError("the actor did not come up"))
            if job.attempts > 1:
                emit(ExecutionRestarted(job.prompt_id, attempt=job.attempts,
                                        reason="its worker was lost; the job runs again from the start"))
            payload = {"prompt_id": job.prompt_id, "prompt": job.prompt, "outputs": job.outputs,
                       "extra_data": job.extra_data, "attempt": job.attempts}
            if self.cluster.outputs_mode != "shared":
                payload["input_files"] = referenced_inputs(job.prompt, self.cluster.server_roots)
            result, renamed = self._stream(payload, emit)
            renamed.update(self.cluster.writer.write(result.pop("files", [])))
            rename_refs(result["outputs"], renamed)
            rename_refs(result["messages"], renamed)
            self.info = result.get("info") or self.info
            ok = result["status"] == "success"
        finally:
            self.current_prompt = None
            self.cluster.scheduler.finished(self.slot_id, keys, keep_models=ok)
        meta = {node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
                for node in result["outputs"]}
        return JobOutcome(result["status"], result["outputs"], result["messages"], meta, result["error"])

    def _stream(self, payload: dict, emit: EventSink) -> tuple[dict, dict]:
        renamed: dict = {}
        written: list[Path] = []
        result = None
        try:
            stream = self.actor.run.options(num_returns="streaming").remote(payload)
            for ref in stream:
                kind, value = self.ray.get(ref)
                if kind == "result":
                    result = value
                    continue
                for event, files in value:
                    if files:
                        renamed.update(self.cluster.writer.write(files, written))
                    if isinstance(event, Executed):
                        rename_refs(event.output, renamed)
                    emit(event)
        except self.lost_errors as exc:
            _take_back(written)
            raise self._lose(exc) from exc
        if result is None:
            _take_back(written)
            raise self._lose(RuntimeError("the actor's stream ended without a result"))
        return result, renamed

    def interrupt(self) -> None:
        prompt_id, actor = self.current_prompt, self.actor
        if prompt_id is not None and actor is not None:
            actor.interrupt.remote(prompt_id)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        if not self._ready:
            return
        try:
            self.info = self.ray.get(self.actor.free.remote(unload_models, free_memory), timeout=120)
        except self.lost_errors:
            traceback.print_exc()
        if unload_models or free_memory:
            self.cluster.scheduler.freed(self.slot_id)

    def close(self) -> None:
        self.cluster.scheduler.unregister(self.slot_id)
        if self.cluster.backends.get(self.slot_id) is self:
            del self.cluster.backends[self.slot_id]
        self._kill()
        self.cluster.return_spec(self.spec)

    def describe(self) -> dict:
        """For ``/system_stats`` and ``/queue``: where this worker runs and what it holds."""
        return {"backend": "ray", "slot": self.slot_id, "actor": self.actor_name, "ready": self._ready,
                "restarts": self.restarts, "running": self.current_prompt,
                "missing_nodes": self.missing_nodes,
                "model_keys": sorted(self.cluster.scheduler.models_of(self.slot_id)),
                **{k: v for k, v in self.info.items() if k != "running"}}


def _take_back(paths: list[Path]) -> None:
    """Remove what a dead attempt already wrote: the re-run writes its own, and history names only those."""
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass


def ray_backend_factory(args: Any, registry: Any, services: Any,
                        assembly_module: str) -> tuple[Callable[[], RayBackend], int]:
    """Connect to the cluster and plan one actor per GPU share (plus CPU actors); for ``WorkerPool``.

    ``assembly_module`` names the module each actor imports to build its own services, registry
    and cache (``build_services``, ``build_registry``, ``build_cache``), as the server did."""
    connect(args.cluster)
    cluster = RayCluster(args, services, registry.names() if registry is not None else None,
                         assembly_module=assembly_module)
    killed = cluster.kill_leftovers()
    if killed:
        print(f"[plexus] stopped {len(killed)} cluster worker(s) left running by a previous server",
              file=sys.stderr, flush=True)
    return (lambda: RayBackend(cluster, cluster.take_spec())), len(cluster.specs)
