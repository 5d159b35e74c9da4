"""ColPali / ColQwen2 page retrieval: fidelity to ``score_retrieval``, chunked MaxSim, the persistent
index (dedup, extend, reload), and bad input."""
from __future__ import annotations

import json

import pytest

from tests.fixtures.vlm import random_image

QUERIES = ["what is the chart", "a red table", "the document answer"]


def _pages(count: int, height: int = 48, width: int = 36, seed: int = 100) -> list:
    return [random_image(seed + i, height, width) for i in range(count)]


def _direct_scores(folder, model_class: str, pages: list, queries: list[str]):
    """The reference: the model and processor called directly, scored by ``processor.score_retrieval``."""
    import torch
    import transformers
    from transformers import AutoProcessor

    from models.vision_language.images import tensor_to_pil_images

    model = getattr(transformers, model_class).from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    with torch.no_grad():
        pictures = [tensor_to_pil_images(p)[0] for p in pages]
        page_embeddings = model(**processor(images=pictures, return_tensors="pt")).embeddings
        query_embeddings = [model(**processor(text=[q], return_tensors="pt")).embeddings[0] for q in queries]
    return processor.score_retrieval(query_embeddings, list(page_embeddings))


@pytest.mark.parametrize("name,model_class", [("tiny-colpali", "ColPaliForRetrieval"),
                                              ("tiny-colqwen2", "ColQwen2ForRetrieval")])
def test_scores_and_rankings_match_score_retrieval(vlm_env, vlm_models_dir, name, model_class):
    import torch

    from nodes.understanding.retrieval import page_index_build, page_search, retriever_loader

    retriever = vlm_env.load(retriever_loader, name)
    pages = _pages(6)
    index = page_index_build(vlm_env.context(), [retriever], [torch.cat(pages)], ["fid-" + name], ["extend"], [4])[0]
    reference = _direct_scores(vlm_models_dir / "retrieval" / name, model_class, pages, QUERIES)
    for row, query in enumerate(QUERIES):
        ours = index.scores(retriever.embed_query(query))
        assert torch.allclose(ours, reference[row].float(), atol=1e-5), (ours, reference[row])
        _, scores_json, ids = page_search(vlm_env.context(), retriever, index, query, 6)
        expected_order = torch.sort(reference[row], descending=True, stable=True).indices.tolist()
        assert ids == [index.pages[i].id for i in expected_order]
        assert [r["score"] for r in json.loads(scores_json)] == pytest.approx(
            reference[row][expected_order].tolist(), abs=1e-5)
    assert len(set(reference[0].tolist())) > 1  # the pages really score differently


def test_ragged_colqwen2_pages_keep_only_their_own_tokens(vlm_env):
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.retrieval import retriever_loader

    retriever = vlm_env.load(retriever_loader, "tiny-colqwen2")
    sizes = [(32, 32), (64, 48), (48, 96)]
    pictures = [tensor_to_pil_images(random_image(i, h, w))[0] for i, (h, w) in enumerate(sizes)]
    batched = retriever.embed_pages(pictures, batch_size=3)  # padded together in one batch
    alone = [retriever.embed_pages([p])[0] for p in pictures]
    assert len({v.shape[0] for v in batched}) == 3  # different token counts per page size
    for together, single in zip(batched, alone):
        assert together.shape == single.shape and (together - single).abs().max() < 1e-5


def test_chunked_maxsim_equals_the_formula_for_ragged_pages():
    import torch

    from models.page_retrieval.maxsim import maxsim_scores

    generator = torch.Generator().manual_seed(0)
    lengths = [5, 9, 9, 1, 17, 3, 9, 9]
    pages = [torch.nn.functional.normalize(torch.randn(n, 8, generator=generator), dim=-1) for n in lengths]
    queries = torch.nn.functional.normalize(torch.randn(2, 4, 8, generator=generator), dim=-1)
    offsets = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)), dtype=torch.int64)
    expected = torch.tensor([[float((q @ p.T).max(dim=1).values.sum()) for p in pages] for q in queries])
    for chunk_tokens in (1, 10, 18, 1000):  # one page per chunk, mixed, and everything at once
        scores = maxsim_scores(queries, torch.cat(pages), offsets, chunk_tokens=chunk_tokens)
        assert torch.allclose(scores, expected, atol=1e-6), chunk_tokens
    half = maxsim_scores(queries[0].to(torch.bfloat16), torch.cat(pages).to(torch.bfloat16), offsets)
    assert torch.allclose(half[0], expected[0], atol=0.1)


def test_index_persists_dedups_extends_and_reloads(vlm_env):
    import torch
    from safetensors.torch import load_file

    from nodes.understanding.retrieval import page_index_build, page_index_load, retriever_loader

    retriever = vlm_env.load(retriever_loader, "tiny-colpali")
    pages = _pages(3)
    calls: list[int] = []
    embed_pages = retriever.embed_pages

    def counting_embed(pictures, *args, **kwargs):
        calls.append(len(pictures))
        return embed_pages(pictures, *args, **kwargs)

    retriever.embed_pages = counting_embed
    try:
        build = lambda images, sources=None: page_index_build(  # noqa: E731
            vlm_env.context(), [retriever], images, ["docs"], ["extend"], [2], sources)[0]
        first = build(pages, ["a.png", "b.png", "c.png"])
        root = vlm_env.services.paths.user_dir / "indexes" / "docs"
        manifest = json.loads((root / "manifest.json").read_text())
        assert manifest["model_id"] == retriever.model_id and manifest["embedding_dim"] == 16
        assert [p["source"] for p in manifest["pages"]] == ["a.png", "b.png", "c.png"]
        stored = load_file(str(root / "embeddings.safetensors"))
        total_tokens = sum(p["tokens"] for p in manifest["pages"])
        assert stored["offsets"].tolist()[-1] == stored["embeddings"].shape[0] == total_tokens
        assert len(list((root / "pages").glob("*.png"))) == 3

        again = build([torch.cat(pages)])  # same pixels, one batch: nothing is embedded again
        assert calls == [3] and len(again) == 3
        extended = build([pages[1], random_image(999, 48, 36)], ["b.png", "d.png"])
        assert calls == [3, 1] and len(extended) == 4 and extended.pages[-1].source == "d.png"
        assert len(first) == 3  # the earlier PAGE_INDEX value is not mutated by later builds
    finally:
        retriever.embed_pages = embed_pages

    loaded = page_index_load(vlm_env.context(), "docs")[0]
    assert [p.id for p in loaded.pages] == [p.id for p in extended.pages]
    assert torch.equal(loaded.embeddings, extended.embeddings)
    assert torch.equal(loaded.page_image(0), pages[0])  # page images come back pixel-exact
    query = retriever.embed_query("the chart")
    assert torch.equal(loaded.scores(query), extended.scores(query))


def test_bad_input_gets_clear_errors_or_clamped_results(vlm_env):
    from nodes.understanding.retrieval import page_index_build, page_search, retriever_loader

    colpali = vlm_env.load(retriever_loader, "tiny-colpali")
    colqwen = vlm_env.load(retriever_loader, "tiny-colqwen2")
    index = page_index_build(vlm_env.context(), [colpali], _pages(2), ["small"], ["extend"], [4])[0]

    with pytest.raises(ValueError, match="built by tiny-colpali"):
        page_search(vlm_env.context(), colqwen, index, "the chart", 1)
    with pytest.raises(ValueError, match="built by tiny-colpali"):
        page_index_build(vlm_env.context(), [colqwen], _pages(1, seed=7), ["small"], ["extend"], [4])
    with pytest.raises(ValueError, match="invalid index name"):
        page_index_build(vlm_env.context(), [colpali], _pages(1), ["../escape"], ["extend"], [4])
    with pytest.raises(ValueError, match="non-empty query"):
        page_search(vlm_env.context(), colpali, index, "  ", 1)

    events: list = []
    pages, scores, ids = page_search(vlm_env.context(events), colpali, index, "the chart", 10)
    assert len(pages) == len(ids) == len(json.loads(scores)) == 2
    assert any("top_k 10" in e.message for e in events if e.type == "warning")

    events.clear()
    long_query = " ".join(["the document answer"] * 300)  # far beyond the 512-position context
    pages, scores, ids = page_search(vlm_env.context(events), colpali, index, long_query, 1)
    assert len(ids) == 1
    assert any("longer than the retriever's context" in e.message for e in events if e.type == "warning")


def test_visual_rag_workflow_runs_headless(tmp_path, vlm_models_dir, capsys):
    from tests.fixtures.vlm import run_workflow, save_png

    for index, page in enumerate(_pages(3)):
        save_png(page, tmp_path / "input" / "pages" / f"page_{index}.png")
    code, out = run_workflow(tmp_path, vlm_models_dir, "visual_rag.json", capsys)
    assert code == 0, out
    manifest = json.loads((tmp_path / "user" / "indexes" / "demo_pages" / "manifest.json").read_text())
    assert len(manifest["pages"]) == 3
    score_lines = [line for line in out.splitlines() if line.startswith("node 9: ")]
    report = json.loads(score_lines[0].removeprefix("node 9: "))
    assert len(report) == 1 and report[0]["rank"] == 1 and report[0]["source"].startswith("page_")
    assert any(line.startswith("node 8: ") for line in out.splitlines())  # the VLM's answer about that page
    code, out = run_workflow(tmp_path, vlm_models_dir, "visual_rag.json", capsys)  # a re-run embeds nothing new
    assert code == 0 and len(json.loads((tmp_path / "user" / "indexes" / "demo_pages" / "manifest.json")
                                        .read_text())["pages"]) == 3
