"""MaxSim scoring throughput: Plexus' chunked scorer vs transformers' ``processor.score_retrieval``.

Synthetic L2-normalised multi-vectors (default 10,000 pages x 1,030 tokens x 128 dims, one query of
20 tokens), stored in bf16: 2.6 GB (fp32 would be 5.3 GB, too much next to the reference's copies
on a 24 GB machine). Both scorers get the same tensors. Reports min-of-N wall time, the speed ratio,
the peak extra resident memory of each call (sampled RSS above the pre-call level), and the
fraction of the memory-bandwidth bound reached (index bytes / bandwidth of a large copy).

    python bench/retrieval.py [--pages 10000] [--repeats 3] [--dtype bf16|fp16|fp32]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import best, timed  # noqa: E402


class PeakRSS:
    """Samples the process RSS in a thread; ``extra`` is the peak above the level at entry."""

    def __init__(self, interval_s: float = 0.002):
        import psutil

        self.process = psutil.Process()
        self.interval_s = interval_s
        self.extra = 0

    def __enter__(self) -> "PeakRSS":
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval_s)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.extra = self.peak - self.baseline


def synthetic_index(pages: int, tokens: int, dim: int, dtype, seed: int = 0):
    """[pages, tokens, dim] unit vectors: each page draws its tokens at random from a pool of 2^16
    random unit vectors (generating 1.3 billion normals would dominate the bench)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    pool = torch.nn.functional.normalize(torch.randn(1 << 16, dim, generator=generator), dim=-1).to(dtype)
    index = torch.empty(pages, tokens, dim, dtype=dtype)
    step = 256
    for start in range(0, pages, step):
        count = min(step, pages - start)
        picks = torch.randint(0, pool.shape[0], (count * tokens,), generator=generator)
        torch.index_select(pool, 0, picks, out=index[start:start + count].view(-1, dim))
    query = torch.nn.functional.normalize(torch.randn(1, 20, dim, generator=generator), dim=-1).to(dtype)
    return index, query


def copy_bandwidth(nbytes: int = 1 << 30, repeats: int = 3) -> float:
    """Bytes moved per second (read + write) by copying a large buffer; best of ``repeats``."""
    import torch

    source = torch.ones(nbytes // 2, dtype=torch.bfloat16)
    target = torch.empty_like(source)
    target.copy_(source)  # first touch
    fastest = best(timed(target.copy_, source)[0] for _ in range(repeats))[0]
    return 2 * nbytes / fastest


def matmul_rate(dtype, max_size: int = 2048, repeats: int = 3, enough_s: float = 0.2) -> float:
    """Multiply-add flops per second of a square matrix product in ``dtype`` (best of ``repeats``). The
    size doubles from 256 until one product takes ``enough_s``: on a CPU without native bf16, a
    2048-square bf16 product takes tens of seconds."""
    import torch

    size = 256
    while True:
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        a @ b
        fastest = best(timed(torch.matmul, a, b)[0] for _ in range(repeats))[0]
        if fastest >= enough_s or size >= max_size:
            return 2 * size ** 3 / fastest
        size *= 2


def measure(fn, repeats: int):
    """((best wall, best CPU) seconds, result of the last run, peak extra bytes over all runs). The CPU
    time is the process's, all threads (torch's and the memory sampler's, which costs about 1 %)."""
    times, result, extra = [], None, 0
    for _ in range(repeats):
        with PeakRSS() as memory:
            took, result = timed(fn)
        times.append(took)
        extra = max(extra, memory.extra)
    return best(times), result, extra


def main() -> int:
    import torch
    from transformers import ColPaliProcessor

    from models.page_retrieval.maxsim import maxsim_scores, top_k

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=1030)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the chunked scorer (min is kept)")
    parser.add_argument("--reference-repeats", type=int, default=1)
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    args = parser.parse_args()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]

    started = time.perf_counter()
    index, query = synthetic_index(args.pages, args.tokens, args.dim, dtype)
    index_bytes = index.numel() * index.element_size()
    print(f"index: {args.pages} pages x {args.tokens} tokens x {args.dim} dims, {args.dtype}, "
          f"{index_bytes / 1e9:.2f} GB (built in {time.perf_counter() - started:.1f} s); "
          f"threads {torch.get_num_threads()}")
    bandwidth = copy_bandwidth()
    bound_s = index_bytes / bandwidth
    print(f"copy bandwidth (read+write): {bandwidth / 1e9:.1f} GB/s -> bound for one pass over the index: "
          f"{bound_s * 1000:.0f} ms")

    flops = 2 * args.pages * args.tokens * args.dim * query.shape[1]
    compute_bound_s = flops / matmul_rate(dtype)
    print(f"large {args.dtype} matmul: {flops / compute_bound_s / 1e9:.0f} GFLOP/s -> compute bound for the "
          f"{flops / 1e9:.0f} GFLOP of one query: {compute_bound_s * 1000:.0f} ms")
    flat = index.view(-1, args.dim)  # the flat page store is a view: no copy
    offsets = torch.arange(args.pages + 1, dtype=torch.int64) * args.tokens
    (ours_best, ours_cpu), ours, ours_extra = measure(lambda: maxsim_scores(query[0], flat, offsets), args.repeats)
    processor = ColPaliProcessor.__new__(ColPaliProcessor)  # score_retrieval needs no tokenizer state
    (reference_best, reference_cpu), reference, reference_extra = measure(
        lambda: processor.score_retrieval(query, index, output_dtype=torch.float32), args.reference_repeats)
    ours, reference = ours[0], reference[0]
    ours_top, _ = top_k(ours, 10)
    reference_top, _ = top_k(reference, 10)
    print(f"chunked MaxSim:      {ours_best * 1000:8.0f} ms wall, {ours_cpu * 1000:8.0f} ms CPU per query "
          f"(min of {args.repeats}), {index_bytes / ours_best / 1e9:5.2f} GB/s, peak extra {ours_extra / 1e6:7.1f} MB")
    print(f"score_retrieval:     {reference_best * 1000:8.0f} ms wall, {reference_cpu * 1000:8.0f} ms CPU per query "
          f"(min of {args.reference_repeats}), {index_bytes / reference_best / 1e9:5.2f} GB/s, "
          f"peak extra {reference_extra / 1e6:7.1f} MB")
    print(f"speed ratio (score_retrieval / chunked): {reference_best / ours_best:.1f}x")
    print(f"fraction of the memory-bandwidth bound: chunked {bound_s / ours_best:.1%}, "
          f"score_retrieval {bound_s / reference_best:.1%}")
    compute_fraction = compute_bound_s / ours_best
    print(f"fraction of the compute bound (large-matmul rate): chunked {compute_fraction:.1%}"
          + (" (above 100 %: this CPU's square products in this dtype are slower than the scorer's own, so "
             "they bound nothing)" if compute_fraction > 1 else ""))
    print(f"agreement: max |diff| {float((ours - reference).abs().max()):.4f} "
          f"(reference accumulates in {args.dtype}), top-10 overlap {len(set(ours_top) & set(reference_top))}/10")
    print(f"total bench time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
