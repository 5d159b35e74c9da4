"""Visual retrieval nodes (ColPali / ColQwen2): embed document pages into a persistent multi-vector
index under ``user/indexes/<name>/``, and search it with a text query by MaxSim.
"""
from __future__ import annotations

import json
from typing import Any

from execution.declare import Combo, In, Int, Out, String, node
from models.folders import ModelListing


def _list_indexes(services: Any) -> list[str]:
    from models.page_retrieval.index import list_indexes

    return list_indexes(services.paths.user_dir)


def _index_fingerprint(services: Any, index_name: str = "", name: str = "", **_: Any) -> str:
    """Changes when the index on disk is rewritten (or deleted), so a cached PAGE_INDEX is not
    reused for an index that has changed since."""
    from models.page_retrieval.index import MANIFEST, index_root

    try:
        manifest = index_root(services.paths.user_dir, index_name or name) / MANIFEST
        stat = manifest.stat()
    except (OSError, ValueError):
        return "missing"
    return f"{stat.st_mtime_ns}:{stat.st_size}"


@node("RetrieverLoader", display_name="Load Retriever (ColPali)", category="loaders/multimodal",
      inputs=[Combo("retriever_name", ModelListing("retrieval"))],
      outputs=[Out("RETRIEVER")])
def retriever_loader(ctx, retriever_name: str):
    """Load a ColPali or ColQwen2 transformers folder from models/retrieval/."""
    from models.page_retrieval.model import load_retriever
    from models.managed import load_managed

    return (load_managed(ctx.services, "retrieval", retriever_name,
                         lambda path, dtype, manager: load_retriever(path, dtype, manager)),)


@node("PageIndexBuild", display_name="Build Page Index", category="multimodal/retrieval", input_is_list=True,
      inputs=[In("retriever", "RETRIEVER"), In("images", "IMAGE"), String("name", "pages"),
              Combo("mode", ["extend", "replace"], tooltip="extend keeps the pages already indexed"),
              Int("batch_size", 4, min=1, max=256),
              In("sources", "STRING", optional=True, tooltip="page names (e.g. from LoadImagesFromFolder)")],
      outputs=[Out("PAGE_INDEX")], fingerprint=_index_fingerprint)
def page_index_build(ctx, retriever: list, images: list, name: list, mode: list, batch_size: list,
                     sources: list | None = None):
    """Embed page images as multi-vectors (in batches, with progress) into the index ``name``.
    Pages already in the index (same pixels) are not embedded again."""
    from models.page_retrieval.index import PageIndex, index_root
    from models.vision_language.images import flatten_image_batches

    model, index_name = retriever[0], name[0]
    pages = flatten_image_batches(images)
    if not pages:
        raise ValueError("PageIndexBuild got no page images")
    names = [str(s) for s in (sources or [])]
    if names and len(names) != len(pages):
        ctx.warn(f"{len(names)} sources for {len(pages)} pages; unnamed pages are called page_<n>")
    names = [names[i] if i < len(names) else f"page_{i:05}" for i in range(len(pages))]
    root = index_root(ctx.services.paths.user_dir, index_name)
    if root.joinpath("manifest.json").is_file() and mode[0] == "extend":
        index = PageIndex.load(root)
        index.check_model(model.model_id, model.embedding_dim)
    else:
        for stale in root.glob("pages/*.png"):  # a replaced index keeps none of the old page images
            stale.unlink()
        index = PageIndex.empty(index_name, root, model.model_id, model.family, model.embedding_dim)

    def embed(pictures: list) -> list:
        ctx.progress(0, len(pictures))
        return model.embed_pages(pictures, batch_size[0], on_batch=lambda done, total: ctx.progress(done, total))

    added, skipped = index.add_pages(pages, names, embed)
    if added or mode[0] == "replace" or not root.joinpath("manifest.json").is_file():
        index.save()
    ctx.send_text(f"index {index_name!r}: {added} pages embedded, {skipped} already indexed, {len(index)} in all")
    return (index,)


@node("PageIndexLoad", display_name="Load Page Index", category="multimodal/retrieval",
      inputs=[Combo("index_name", _list_indexes)], outputs=[Out("PAGE_INDEX")],
      fingerprint=_index_fingerprint)
def page_index_load(ctx, index_name: str):
    """Load a page index saved under user/indexes/."""
    from models.page_retrieval.index import PageIndex, index_root

    return (PageIndex.load(index_root(ctx.services.paths.user_dir, index_name)),)


@node("PageSearch", display_name="Search Pages", category="multimodal/retrieval",
      inputs=[In("retriever", "RETRIEVER"), In("page_index", "PAGE_INDEX"),
              String("query", "", multiline=True), Int("top_k", 3, min=1, max=1000)],
      outputs=[Out("IMAGE", "pages", is_list=True), Out("STRING", "scores"), Out("STRING", "page_ids", is_list=True)])
def page_search(ctx, retriever, page_index, query: str, top_k: int = 3):
    """The ``top_k`` pages most relevant to the query (MaxSim), best first: one IMAGE per page, the
    scores as JSON (rank, id, source, score), and the page ids."""
    from models.page_retrieval.maxsim import top_k as best_pages

    if not query.strip():
        raise ValueError("PageSearch needs a non-empty query")
    if len(page_index) == 0:
        raise ValueError(f"page index {page_index.name!r} is empty")
    page_index.check_model(retriever.model_id, retriever.embedding_dim)
    query = _fit_query(ctx, retriever, query)
    if top_k > len(page_index):
        ctx.warn(f"top_k {top_k} is larger than the index ({len(page_index)} pages); returning all of them")
        top_k = len(page_index)
    positions, scores = best_pages(page_index.scores(retriever.embed_query(query)), top_k)
    records = [page_index.pages[p] for p in positions]
    report = [{"rank": rank + 1, "id": r.id, "source": r.source, "score": round(float(s), 6)}
              for rank, (r, s) in enumerate(zip(records, scores))]
    pages = [page_index.page_image(p) for p in positions]
    return (pages, json.dumps(report), [r.id for r in records])


def _fit_query(ctx, retriever, query: str) -> str:
    """The query, cut (with a warning) to the words that fit in the retriever's text context."""
    limit = retriever.max_query_tokens
    if retriever.query_token_count(query) <= limit:
        return query
    words = query.split()
    low, high = 0, len(words)  # the longest word prefix that fits
    while low < high:
        middle = (low + high + 1) // 2
        if retriever.query_token_count(" ".join(words[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    if low == 0:
        raise ValueError(f"the query does not fit in the retriever's context of {limit} tokens")
    ctx.warn(f"the query is longer than the retriever's context ({limit} tokens); "
             f"using its first {low} of {len(words)} words")
    return " ".join(words[:low])
