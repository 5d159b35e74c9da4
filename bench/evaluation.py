"""Lazy benchmark reading: a 10,000-item MMBench-format TSV (base64 pictures), opened and read item by
item by ``Benchmark``, against reading every row into memory with ``csv`` in the same process.

Prints wall and CPU time and the Python memory held (tracemalloc) after opening and at the peak
while iterating, for both.

    python bench/evaluation.py [--items 10000]
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_file(target: Path, items: int) -> None:
    from models.demo.evaluation import write_mmbench_tsv

    write_mmbench_tsv(target)
    header, *rows = target.read_text().splitlines()
    with target.open("w") as handle:
        handle.write(header + "\n")
        for n in range(items):
            handle.write(rows[n % len(rows)] + "\n")


def measure(label: str, open_file, iterate) -> None:
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    handle = open_file()
    opened_wall, opened_cpu = time.perf_counter() - wall, time.process_time() - cpu
    held = tracemalloc.get_traced_memory()[0]
    count = 0
    for _ in iterate(handle):
        count += 1
    total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{label:<28} open {opened_wall * 1e3:7.1f} ms wall {opened_cpu * 1e3:7.1f} ms CPU | "
          f"open+read {count} items {total_wall * 1e3:7.1f} ms wall {total_cpu * 1e3:7.1f} ms CPU "
          f"({total_cpu / max(count, 1) * 1e6:.1f} us CPU/item) | held after open {held / 1e6:6.2f} MB, "
          f"peak {peak / 1e6:6.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    from models.evaluation.benchmark_files import Benchmark

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "big.tsv"
        write_file(target, args.items)
        print(f"file: {args.items} items, {target.stat().st_size / 1e6:.1f} MB")
        for _ in range(2):  # interleaved, twice
            measure("Benchmark (lazy)", lambda: Benchmark(target), iter)

            def read_all():
                with target.open(newline="") as handle:
                    return list(csv.DictReader(handle, delimiter="\t"))

            measure("csv.DictReader into a list", read_all, iter)


if __name__ == "__main__":
    main()
