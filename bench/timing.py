"""Wall and CPU time of a piece of work, the way every bench reports it.

CPU time is this process's, all its threads together (``time.process_time``): on a machine shared
with other work it moves far less than wall time, which is what a user waits for. Benches print
both, per unit of work, and compare only against what they run themselves."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

WallCpu = tuple[float, float]  # seconds


class Stopwatch:
    """``with Stopwatch() as watch: ...``; then ``watch.wall`` and ``watch.cpu`` are the seconds spent."""

    def __enter__(self) -> "Stopwatch":
        self.wall, self.cpu = -time.perf_counter(), -time.process_time()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()

    @property
    def seconds(self) -> WallCpu:
        return self.wall, self.cpu


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[WallCpu, Any]:
    """``((wall, CPU) seconds, fn's result)`` of one call."""
    with Stopwatch() as watch:
        result = fn(*args, **kwargs)
    return watch.seconds, result


def best(times: Iterable[WallCpu]) -> WallCpu:
    """The least wall and the least CPU time of several runs (each its own minimum)."""
    walls, cpus = zip(*times)
    return min(walls), min(cpus)


def wall_cpu_ms(times: WallCpu, per: int = 1) -> str:
    """``"12.3 ms wall, 11.8 ms CPU"``, divided by ``per`` units of work."""
    return f"{times[0] * 1000 / per:.2f} ms wall, {times[1] * 1000 / per:.2f} ms CPU"


def report_against_pipeline(times: dict[str, list[WallCpu]], cold_target: float, seed_only_target: float) -> None:
    """The graph-against-pipeline table of the generation benches: min and median of ``diffusers``,
    ``graph_cold`` and ``graph_seed_only``, in wall then CPU time, and both ratios to the pipeline
    with their targets (cold at most ``cold_target``, seed-only under ``seed_only_target``)."""
    for column, label in ((0, "wall"), (1, "CPU")):
        fastest = {key: min(run[column] for run in runs) for key, runs in times.items()}
        middle = {key: sorted(run[column] for run in runs)[len(runs) // 2] for key, runs in times.items()}
        for key in times:
            print(f"  {label:4s} {key:16s} min {fastest[key] * 1000:8.2f} ms   median {middle[key] * 1000:8.2f} ms")
        cold, seed_only = fastest["graph_cold"] / fastest["diffusers"], fastest["graph_seed_only"] / fastest["diffusers"]
        print(f"  {label:4s} ratio cold / diffusers      = {cold:.3f}   (target <= {cold_target:g})")
        print(f"  {label:4s} ratio seed-only / diffusers = {seed_only:.3f}   (target < {seed_only_target:g})")
