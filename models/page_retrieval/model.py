"""Multi-vector page retrievers (``RETRIEVER``): ColPali and ColQwen2 on transformers' own classes.

Pages (images) and queries (text) become bags of L2-normalised token vectors; relevance is MaxSim
(:mod:`models.page_retrieval.maxsim`).
"""
from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any, Callable

from models.pickle_guard import from_pretrained_safely

# config.model_type -> transformers model class name
RETRIEVER_ARCHITECTURES = {
    "colpali": "ColPaliForRetrieval",
    "colqwen2": "ColQwen2ForRetrieval",
}


class Retriever:
    def __init__(self, model: Any, processor: Any, model_id: str, name: str = "", manager: Any = None):
        self.model = model
        self.processor = processor
        self.model_id = model_id  # identifies the weights; an index remembers which model built it
        self.name = name
        self.manager = manager

    def torch_modules(self) -> list:
        return [self.model]

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.embedding_dim)

    @property
    def family(self) -> str:
        return self.model.config.model_type

    @property
    def max_query_tokens(self) -> int:
        text_config = self.model.config.vlm_config.get_text_config()
        return int(getattr(text_config, "max_position_embeddings", 0) or 2048)

    def embed_pages(self, pictures: list, batch_size: int = 4,
                    on_batch: Callable[[int, int], None] | None = None) -> list:
        """One ``[tokens, dim]`` float tensor (CPU) per page image; padding tokens removed."""
        pages: list = []
        for start in range(0, len(pictures), batch_size):
            batch = self.processor(images=pictures[start:start + batch_size], return_tensors="pt")
            pages.extend(self._embed(batch))
            if on_batch is not None:
                on_batch(min(start + batch_size, len(pictures)), len(pictures))
        return pages

    def query_token_count(self, query: str) -> int:
        return int(self.processor(text=[query], return_tensors="pt")["input_ids"].shape[1])

    def embed_query(self, query: str) -> Any:
        """``[tokens, dim]`` for one query (no padding, since it is alone in its batch)."""
        return self._embed(self.processor(text=[query], return_tensors="pt"))[0]

    def _embed(self, batch: Any) -> list:
        import torch

        with self._placed() as device, torch.inference_mode():
            dtype = next(self.model.parameters()).dtype
            inputs = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                      for k, v in batch.items() if k != "labels"}
            embeddings = self.model(**inputs).embeddings
        mask = batch["attention_mask"].bool()
        return [embeddings[i][mask[i].to(embeddings.device)].cpu() for i in range(embeddings.shape[0])]

    def _placed(self):
        if self.manager is not None:
            return self.manager.on_device(self.model)
        return contextlib.nullcontext(next(self.model.parameters()).device)


def weights_id(folder: Path) -> str:
    """``<folder name>@<hash>`` of the weight files' names, sizes, headers and 16 evenly spaced
    64 KiB samples each: stable across copies of the same model, different for other weights
    (also for fine-tunes that only change later layers), without reading gigabytes."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 16))
            for part in range(1, 17):
                handle.seek(max(0, size * part // 17 - (1 << 15)))
                digest.update(handle.read(1 << 16))
    return f"{folder.name}@{digest.hexdigest()[:16]}"


def load_retriever(path: str | Path, dtype: Any = None, manager: Any = None) -> Retriever:
    import transformers
    from transformers import AutoConfig, AutoProcessor

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path.name}: a retriever must be a transformers folder "
                         "(config.json, safetensors, processor)")
    config = AutoConfig.from_pretrained(path)
    if config.model_type not in RETRIEVER_ARCHITECTURES:
        raise ValueError(f"{path.name}: unsupported retriever type {config.model_type!r}; "
                         f"supported: {', '.join(RETRIEVER_ARCHITECTURES)}")
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model_class = getattr(transformers, RETRIEVER_ARCHITECTURES[config.model_type])
    model = from_pretrained_safely(model_class, path, **kwargs).eval()
    processor = AutoProcessor.from_pretrained(path)
    return Retriever(model, processor, weights_id(path), name=path.name, manager=manager)
