"""A persistent multi-vector page index (``PAGE_INDEX``), stored under ``user/indexes/<name>/``:

- ``manifest.json``: format, model id and family, embedding dim, dtype, and one record per page
  (id, content hash, source, token count, size);
- ``embeddings.safetensors``: ``embeddings`` ``[total_tokens, dim]`` (pages back to back) and
  ``offsets`` ``[pages + 1]``;
- ``pages/<hash>.png``: the page images, returned by searches.

Pages are keyed by a hash of their pixels, so adding the same page again embeds nothing. Files are
replaced atomically; a loaded index is never mutated by a later build (builds start from disk).
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from models.vision_language.images import image_content_hash, pil_to_tensor, tensor_to_pil_images

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.safetensors"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class IndexModelMismatch(ValueError):
    """The index was built by a different retriever than the one used with it."""


@dataclass
class PageRecord:
    id: str
    hash: str
    source: str
    tokens: int
    width: int
    height: int


@dataclass
class PageIndex:
    name: str
    root: Path
    model_id: str
    model_family: str
    embedding_dim: int
    pages: list[PageRecord] = field(default_factory=list)
    embeddings: Any = None  # [total_tokens, dim]
    offsets: Any = None  # [pages + 1] int64

    def __len__(self) -> int:
        return len(self.pages)

    def __repr__(self) -> str:  # short, for error reports and logs
        return f"PageIndex({self.name!r}, {len(self.pages)} pages, model={self.model_id})"

    # -- creation and storage -------------------------------------------------------------------
    @classmethod
    def empty(cls, name: str, root: Path, model_id: str, model_family: str, embedding_dim: int) -> "PageIndex":
        import torch

        return cls(name, root, model_id, model_family, embedding_dim, [],
                   torch.zeros(0, embedding_dim), torch.zeros(1, dtype=torch.int64))

    @classmethod
    def load(cls, root: Path) -> "PageIndex":
        from safetensors.torch import load_file

        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no page index at {root} (missing {MANIFEST})")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT_VERSION:
            raise ValueError(f"{root.name}: unsupported index format {manifest.get('format')!r}")
        tensors = load_file(str(root / EMBEDDINGS))
        pages = [PageRecord(**record) for record in manifest["pages"]]
        index = cls(manifest["name"], root, manifest["model_id"], manifest["model_family"],
                    int(manifest["embedding_dim"]), pages, tensors["embeddings"], tensors["offsets"])
        if index.offsets.numel() != len(pages) + 1 or int(index.offsets[-1]) != index.embeddings.shape[0]:
            raise ValueError(f"{root.name}: manifest and embeddings disagree ({len(pages)} pages, "
                             f"{index.embeddings.shape[0]} vectors); rebuild the index")
        return index

    def save(self) -> None:
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{EMBEDDINGS}.tmp"
        save_file({"embeddings": self.embeddings.contiguous(), "offsets": self.offsets.contiguous()},
                  str(temporary), metadata={"model_id": self.model_id})
        os.replace(temporary, self.root / EMBEDDINGS)
        manifest = {"format": FORMAT_VERSION, "name": self.name, "model_id": self.model_id,
                    "model_family": self.model_family, "embedding_dim": self.embedding_dim,
                    "dtype": str(self.embeddings.dtype).removeprefix("torch."),
                    "pages": [asdict(p) for p in self.pages],
                    "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        temporary = self.root / f".{MANIFEST}.tmp"
        temporary.write_text(json.dumps(manifest, indent=1))
        os.replace(temporary, self.root / MANIFEST)  # the manifest goes last: it commits the update

    # -- building -------------------------------------------------------------------------------
    def check_model(self, model_id: str, embedding_dim: int) -> None:
        """Model ids are ``<folder>@<weights hash>``: the same weights under another folder name match."""
        same_weights = model_id.rpartition("@")[2] == self.model_id.rpartition("@")[2]
        if not same_weights or embedding_dim != self.embedding_dim:
            raise IndexModelMismatch(
                f"page index {self.name!r} was built by {self.model_id} ({self.embedding_dim}-dim vectors), "
                f"not by {model_id} ({embedding_dim}-dim); use the same retriever, or build a new index")

    def add_pages(self, images: list, sources: list[str], embed: Callable[[list], list]) -> tuple[int, int]:
        """Add ``[H,W,C]`` page images not already present (by content hash); ``embed(pil_images)``
        gives one ``[tokens, dim]`` tensor per image. Returns (added, skipped)."""
        import torch

        known = {p.hash for p in self.pages}
        fresh: list[tuple[Any, str, str]] = []
        for image, source in zip(images, sources):
            digest = image_content_hash(image)
            if digest in known:
                continue
            known.add(digest)
            fresh.append((image, source, digest))
        if not fresh:
            return 0, len(images)
        pictures = [tensor_to_pil_images(image)[0] for image, _, _ in fresh]
        vectors = embed(pictures)
        pages_dir = self.root / "pages"
        pages_dir.mkdir(parents=True, exist_ok=True)
        new_offsets = [int(self.offsets[-1])]
        for (image, source, digest), picture, page_vectors in zip(fresh, pictures, vectors):
            picture.save(pages_dir / f"{digest}.png", compress_level=4)
            self.pages.append(PageRecord(digest[:16], digest, source, int(page_vectors.shape[0]),
                                         picture.width, picture.height))
            new_offsets.append(new_offsets[-1] + int(page_vectors.shape[0]))
        added = torch.cat([v.to(self.embeddings.dtype) if self.embeddings.numel() else v for v in vectors])
        self.embeddings = torch.cat([self.embeddings.to(added.dtype), added]) if self.embeddings.numel() else added
        self.offsets = torch.cat([self.offsets, torch.tensor(new_offsets[1:], dtype=torch.int64)])
        return len(fresh), len(images) - len(fresh)

    # -- reading --------------------------------------------------------------------------------
    def page_vectors(self, position: int) -> Any:
        return self.embeddings[int(self.offsets[position]):int(self.offsets[position + 1])]

    def page_image(self, position: int) -> Any:
        from PIL import Image

        record = self.pages[position]
        with Image.open(self.root / "pages" / f"{record.hash}.png") as picture:
            return pil_to_tensor(picture)

    def scores(self, query_vectors: Any) -> Any:
        """MaxSim scores ``[pages]`` of one query ``[tokens, dim]``."""
        from models.page_retrieval.maxsim import maxsim_scores

        return maxsim_scores(query_vectors.to(self.embeddings.dtype), self.embeddings, self.offsets)[0]


def index_root(user_dir: Path, name: str) -> Path:
    """``user/indexes/<name>``; names are plain (letters, digits, ``_ . -``), never paths."""
    name = name.strip()
    if not NAME_PATTERN.match(name) or name in (".", ".."):
        raise ValueError(f"invalid index name {name!r}: use letters, digits, '_', '.', '-' (max 100)")
    return Path(user_dir) / "indexes" / name


def list_indexes(user_dir: Path) -> list[str]:
    folder = Path(user_dir) / "indexes"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / MANIFEST).is_file())
