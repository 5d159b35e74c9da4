"""Late-interaction (ColBERT / ColPali) scoring: ``S(q, d) = Σ_i max_j q_i · d_j``, in bounded memory.

Pages are stored flat: one ``[total_tokens, dim]`` tensor plus per-page token offsets, so pages of
different lengths need no padding. Scoring walks the pages in chunks of about ``chunk_tokens``
document tokens: one product ``[query_tokens, dim] @ [dim, chunk_tokens]`` into a reused buffer,
then a max over each page's columns. Query-major output keeps that max a contiguous reduction
(about 2x faster on CPU than the token-major layout). Peak extra memory is the buffer (capped at
``MAX_BUFFER_BYTES``) plus an upcast copy of a chunk when the storage dtype is not the compute
dtype, independent of the index size.
"""
from __future__ import annotations

from typing import Any

DEFAULT_CHUNK_TOKENS = 1 << 20  # ~1,000 pages of 1,030 tokens per product
MAX_BUFFER_BYTES = 64 << 20


def maxsim_scores(query: Any, flat_pages: Any, offsets: Any, *, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                  compute_dtype: Any = None) -> Any:
    """Scores ``[n_queries, n_pages]`` (float32) of queries against flat-stored pages.

    ``query``: ``[n_query_tokens, dim]`` or ``[n_queries, n_query_tokens, dim]``;
    ``flat_pages``: ``[total_tokens, dim]``; ``offsets``: ``[n_pages + 1]`` int64 token offsets.
    Query rows that are all zero (padding) contribute 0, as in ``score_retrieval``.
    """
    import torch

    queries = query if query.ndim == 3 else query.unsqueeze(0)
    n_queries, query_tokens, dim = queries.shape
    if flat_pages.shape[-1] != dim:
        raise ValueError(f"query dim {dim} != page dim {flat_pages.shape[-1]}")
    n_pages = int(offsets.numel()) - 1
    compute_dtype = compute_dtype or _compute_dtype(flat_pages)
    device = flat_pages.device
    query_rows = queries.reshape(-1, dim).to(device, compute_dtype).contiguous()  # [nq*qt, dim]
    rows = query_rows.shape[0]
    element = torch.empty(0, dtype=compute_dtype).element_size()
    chunk_tokens = max(1, min(chunk_tokens, MAX_BUFFER_BYTES // (rows * element)))
    scores = torch.empty(n_queries, n_pages, dtype=torch.float32, device=device)
    offsets_list = offsets.tolist()
    lengths = [offsets_list[i + 1] - offsets_list[i] for i in range(n_pages)]
    # One buffer for every chunk: fresh multi-MB allocations would page-fault each time.
    buffer_tokens = min(max(chunk_tokens, max(lengths, default=0)), int(offsets_list[-1]))
    buffer = torch.empty(rows * buffer_tokens, dtype=compute_dtype, device=device)
    start_page = 0
    with torch.inference_mode():
        while start_page < n_pages:
            end_page = _chunk_end(offsets_list, start_page, chunk_tokens)
            first, last = offsets_list[start_page], offsets_list[end_page]
            chunk = flat_pages[first:last]
            if chunk.dtype != compute_dtype:
                chunk = chunk.to(compute_dtype)
            similarity = buffer[:rows * (last - first)].view(rows, last - first)
            torch.matmul(query_rows, chunk.T, out=similarity)  # [nq*qt, tokens]
            page_lengths = lengths[start_page:end_page]
            if min(page_lengths) == max(page_lengths) and page_lengths[0] > 0:
                best = similarity.view(rows, end_page - start_page, page_lengths[0]).amax(dim=-1)
            else:
                best = _segment_max(similarity, page_lengths)
            scores[:, start_page:end_page] = best.float().view(n_queries, query_tokens, -1).sum(dim=1)
            start_page = end_page
    return scores


def _compute_dtype(flat_pages: Any) -> Any:
    import torch

    if flat_pages.device.type == "cpu" and flat_pages.dtype == torch.float16:
        return torch.float32  # CPU half matmuls are slow; bf16 ones use the AVX-512/AMX paths
    return flat_pages.dtype


def _chunk_end(offsets: list[int], start_page: int, chunk_tokens: int) -> int:
    """The page after the last one that fits in ``chunk_tokens`` (at least one page)."""
    limit = offsets[start_page] + chunk_tokens
    end = start_page + 1
    while end < len(offsets) - 1 and offsets[end + 1] <= limit:
        end += 1
    return end


def _segment_max(similarity: Any, lengths: list[int]) -> Any:
    """Per-page max over columns for pages of different lengths (an empty page scores 0)."""
    import torch

    n_pages = len(lengths)
    lengths_tensor = torch.tensor(lengths, device=similarity.device)
    page_of_column = torch.repeat_interleave(torch.arange(n_pages, device=similarity.device), lengths_tensor)
    best = torch.full((similarity.shape[0], n_pages), float("-inf"), dtype=similarity.dtype,
                      device=similarity.device)
    best.scatter_reduce_(1, page_of_column.expand_as(similarity), similarity, "amax", include_self=True)
    return torch.where(torch.isinf(best), torch.zeros_like(best), best)


def top_k(scores: Any, k: int) -> tuple[list[int], list[float]]:
    """Indices and scores of the ``k`` best pages for one query, best first; ties keep index order."""
    import torch

    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return order.tolist(), scores[order].tolist()
