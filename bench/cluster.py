"""Cluster benchmark: Ray actors behind the durable queue, against in-process execution.

    python bench/cluster.py [--jobs 40] [--seconds 0.5] [--dispatch-jobs 60] [--rounds 5]

Starts a private local Ray cluster (2 CPUs; needs ``pip install -r requirements-cluster.txt``)
and reports, all measured in this one run:

1. throughput on ``--jobs`` CPU jobs of fixed length (``PxClusterSleep``, ``--seconds`` each):
   1 actor against 2 actors (target >= 1.8x);
2. dispatch overhead per job: trivial jobs drained from the queue by one Ray actor against the
   in-process backend (min of ``--rounds``, interleaved; target < 20 ms);
3. cost per progress event streamed back from an actor (batched by the actor's generator);
4. recovery of a killed actor's job (SIGKILL mid-job): time from the kill until the job runs
   again (``execution_restarted``) and until it is done, with a second actor idle and with
   the only actor (a fresh actor must start).

Beside each wall time: the CPU time of this process (queue, workers, event hooks) plus the Ray
actors' processes, read from ``/proc`` (the cluster is local). Ray's own daemons are not counted.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"})
NODES_DIR = ROOT / "tests" / "cluster" / "nodes"

from bench.live_server import process_cpu_seconds  # noqa: E402 - after the path set-up
from bench.timing import best, wall_cpu_ms  # noqa: E402


class Bench:
    """A server core (queue + worker pool) with recorded events; Ray actors or in-process."""

    def __init__(self, base: Path, backend_args: list[str]) -> None:
        from app import assembly
        from app.flags import build_parser
        from execution.jobs.queue import JobQueue
        from execution.jobs.worker import LocalBackend, WorkerPool

        base.mkdir(parents=True, exist_ok=True)
        self.args = build_parser().parse_args(["--base-directory", str(base), "--cpu", "--custom-nodes-dir",
                                                    str(NODES_DIR), *backend_args])
        self.services = assembly.build_services(self.args)
        self.registry, _ = assembly.build_registry(self.args, self.services)
        self.queue = JobQueue(base / "queue.sqlite3")
        self.events: dict[str, list[tuple[float, str]]] = {}
        self.done = threading.Condition()
        if self.args.cluster:
            from execution.cluster.backend import ray_backend_factory

            factory, count = ray_backend_factory(self.args, self.registry, self.services, assembly_module="app.assembly")
        else:
            factory, count = (lambda: LocalBackend(self.registry, assembly.build_cache(self.args), self.services)), 1
        self.pool = WorkerPool(self.queue, factory, self, count=count)
        self.pool.start()
        for worker in self.pool.workers:
            ready = getattr(worker.backend, "ready", None)
            if ready is not None:
                assert ready(timeout=120), "actor did not start"

    def job_started(self, job) -> None:
        pass

    def job_event(self, job, event) -> None:
        self.events.setdefault(job.prompt_id, []).append((time.perf_counter(), event.type))

    def job_finished(self, job, outcome) -> None:
        with self.done:
            self.done.notify_all()

    def queue_changed(self) -> None:
        with self.done:
            self.done.notify_all()

    def submit_many(self, prompts: list[dict]) -> list[str]:
        from execution.validate import validate_prompt

        ids = []
        for prompt in prompts:
            result = validate_prompt(prompt, self.registry, self.services)
            assert result.ok, result.response()
            ids.append(uuid.uuid4().hex)
            self.queue.enqueue(ids[-1], result.prompt, {}, result.outputs)
        self.pool.wake()
        return ids

    def wait(self, ids: list[str], timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        with self.done:
            while self.queue.remaining() and any(self.queue.state_of(i) in ("pending", "running") for i in ids):
                assert time.monotonic() < deadline, "jobs did not finish"
                self.done.wait(0.05)
        bad = [i for i in ids if self.queue.state_of(i) != "success"]
        assert not bad, f"{len(bad)} jobs failed: {self.queue.history(prompt_id=bad[0])}"

    def cpu_seconds(self) -> float:
        """CPU time of this process and of the bench's live Ray actors."""
        total = time.process_time()
        for worker in self.pool.workers:
            pid = (getattr(worker.backend, "info", None) or {}).get("pid")
            if pid is not None:
                try:
                    total += process_cpu_seconds(pid)
                except OSError:  # an actor that just died: its CPU is gone with it
                    pass
        return total

    def close(self) -> None:
        self.pool.stop()
        self.queue.close()


def sleep_prompt(seconds: float, steps: int, value: int = 0) -> dict:
    return {"1": {"class_type": "PxClusterSleep", "inputs": {"seconds": seconds, "steps": steps, "value": value,
                                                            "marker": ""}}}


def drain(bench: Bench, prompts: list[dict]) -> tuple[float, float]:
    """(wall, CPU) seconds to run ``prompts`` through the queue (CPU: ``Bench.cpu_seconds``)."""
    cpu, started = bench.cpu_seconds(), time.perf_counter()
    bench.wait(bench.submit_many(prompts))
    return time.perf_counter() - started, bench.cpu_seconds() - cpu


def throughput(work: Path, jobs: int, seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    prompts = [sleep_prompt(seconds, 5, i) for i in range(jobs)]
    timings = []
    for actors in (1, 2):
        bench = Bench(work / f"tp{actors}", ["--cluster", "local", "--workers-per-gpu", "0",
                                             "--cluster-cpu-workers", str(actors)])
        drain(bench, [sleep_prompt(0.0, 1)] * actors)  # warm-up
        timings.append(drain(bench, prompts))
        bench.close()
    return timings[0], timings[1]


def dispatch_overhead(work: Path, jobs: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds per trivial job, in-process (``local``) and on one actor (``ray``)."""
    local = Bench(work / "local", [])
    ray_one = Bench(work / "ray1", ["--cluster", "local", "--workers-per-gpu", "0", "--cluster-cpu-workers", "1"])
    prompts = [sleep_prompt(0.0, 1, i) for i in range(jobs)]
    runs: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
    try:
        for bench in (local, ray_one):
            drain(bench, prompts[:5])
        for _ in range(rounds):
            for name, bench in (("local", local), ("ray", ray_one)):
                wall, cpu = drain(bench, prompts)
                runs[name].append((wall / jobs, cpu / jobs))
    finally:
        local.close()
        ray_one.close()
    return {name: best(times) for name, times in runs.items()}


def event_overhead(work: Path, steps: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds per progress event (a job of ``steps`` zero-length steps), in-process
    (``local``) and on an actor (``ray``)."""
    local = Bench(work / "ev-local", [])
    ray_one = Bench(work / "ev-ray", ["--cluster", "local", "--workers-per-gpu", "0", "--cluster-cpu-workers", "1"])
    runs: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
    try:
        for round_index in range(rounds):
            for name, bench in (("local", local), ("ray", ray_one)):
                wall, cpu = drain(bench, [sleep_prompt(0.0, steps, round_index)])  # a new value: never cached
                forwarded = sum(1 for events in bench.events.values() for _, kind in events if kind == "progress")
                assert forwarded >= steps, "every progress event reaches the hooks"
                bench.events.clear()
                runs[name].append((wall / steps, cpu / steps))
    finally:
        local.close()
        ray_one.close()
    return {name: best(times) for name, times in runs.items()}


def recovery(work: Path, actors: int) -> tuple[float, float]:
    bench = Bench(work / f"rec{actors}", ["--cluster", "local", "--workers-per-gpu", "0",
                                          "--cluster-cpu-workers", str(actors)])
    try:
        [job] = bench.submit_many([sleep_prompt(1.0, 20)])
        while sum(1 for _, kind in bench.events.get(job, []) if kind == "progress") < 2:
            time.sleep(0.005)
        worker = next(w for w in bench.pool.workers if w.current is not None)
        killed_at = time.perf_counter()
        os.kill(worker.backend.info["pid"], signal.SIGKILL)
        bench.wait([job])
        events = bench.events[job]
        restarted = next(t for t, kind in events if kind == "execution_restarted")
        return restarted - killed_at, events[-1][0] - killed_at
    finally:
        bench.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--dispatch-jobs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, namespace="plexus", configure_logging=False,
             log_to_driver=False)
    print(f"local Ray cluster up in {time.perf_counter() - started:.1f} s")
    work = Path(tempfile.mkdtemp(prefix="plexus-bench-cluster-"))
    try:
        (one, one_cpu), (two, two_cpu) = throughput(work, options.jobs, options.seconds)
        ideal = options.jobs * options.seconds
        print(f"throughput, {options.jobs} jobs x {options.seconds} s: 1 actor {one:.2f} s "
              f"({options.jobs / one:.2f} jobs/s, ideal {ideal:.1f} s); 2 actors {two:.2f} s "
              f"({options.jobs / two:.2f} jobs/s, ideal {ideal / 2:.1f} s); speed-up {one / two:.2f}x (target >= 1.8x); "
              f"CPU per job {one_cpu / options.jobs * 1000:.1f} ms (1 actor), {two_cpu / options.jobs * 1000:.1f} ms (2)")
        per_job = dispatch_overhead(work, options.dispatch_jobs, options.rounds)
        print(f"per trivial job, queue to history: in-process {wall_cpu_ms(per_job['local'])}; "
              f"Ray actor {wall_cpu_ms(per_job['ray'])}; dispatch overhead "
              f"{(per_job['ray'][0] - per_job['local'][0]) * 1000:.2f} ms/job wall (target < 20 ms)")
        per_event = event_overhead(work, 2000, options.rounds)
        print(f"per progress event (2000 steps, streamed to the server's hooks): in-process "
              f"{per_event['local'][0] * 1e6:.0f} us wall, {per_event['local'][1] * 1e6:.0f} us CPU; Ray actor "
              f"{per_event['ray'][0] * 1e6:.0f} us wall, {per_event['ray'][1] * 1e6:.0f} us CPU")
        for actors in (2, 1):
            rerun, done = recovery(work, actors)
            print(f"killed actor's job, {actors} actor(s): running again {rerun * 1000:.0f} ms after the kill, "
                  f"done {done:.2f} s after it (the job itself takes 1.0 s)")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
