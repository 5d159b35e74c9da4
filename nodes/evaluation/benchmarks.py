"""Benchmark files as a ``BENCHMARK`` value (MMBench TSV, multiple-choice JSONL/CSV with MMMU-style
image lists, POPE yes/no probes), read lazily from ``input/``."""
from __future__ import annotations

import os
from typing import Any

from execution.declare import Combo, Int, Out, node

FORMAT_CHOICES = ["auto", "mmbench", "multiple_choice", "yes_no"]


def _benchmark_files(services: Any) -> list[str]:
    from models.evaluation.benchmark_files import list_benchmark_files

    return list_benchmark_files(services.paths.input_dir)


def _file_fingerprint(services: Any, benchmark_file: str = "", **_: Any) -> str:
    try:
        stat = os.stat(services.paths.annotated_path(benchmark_file))
    except (OSError, ValueError):
        return benchmark_file
    return f"{benchmark_file}:{stat.st_size}:{stat.st_mtime_ns}"


@node("LoadBenchmark", display_name="Load Benchmark", category="evaluation",
      inputs=[Combo("benchmark_file", _benchmark_files,
                    tooltip="a .tsv, .jsonl, .json (lines) or .csv file under input/"),
              Combo("format", FORMAT_CHOICES, tooltip="auto: .tsv is MMBench; rows with a yes/no label are probes"),
              Int("limit", 0, min=0, max=10_000_000, tooltip="use only the first N items (0 = all)")],
      outputs=[Out("BENCHMARK")], fingerprint=_file_fingerprint)
def load_benchmark(ctx, benchmark_file: str, format: str = "auto", limit: int = 0):
    """Open a local benchmark file lazily; bad rows are reported with their line numbers and skipped."""
    from models.evaluation.benchmark_files import Benchmark

    benchmark = Benchmark(ctx.services.paths.annotated_path(benchmark_file), format)
    for error in benchmark.errors[:20]:
        ctx.warn(f"{benchmark.name}: {error} (skipped)")
    if len(benchmark.errors) > 20:
        ctx.warn(f"{benchmark.name}: {len(benchmark.errors) - 20} more bad rows skipped")
    if limit:
        del benchmark.offsets[limit:]
        del benchmark.line_numbers[limit:]
    return (benchmark,)
