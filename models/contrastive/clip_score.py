"""Full CLIP models (``CLIP_MODEL``: both towers) for zero-shot labels and image-text similarity.

Named apart from ComfyUI's ``CLIP`` (the text encoder of a diffusion model).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely
from models.vision_language.images import tensor_to_pil_images


class CLIPScorer:
    def __init__(self, model: Any, processor: Any, name: str = "", manager: Any = None):
        self.model = model
        self.processor = processor
        self.name = name
        self.manager = manager

    def torch_modules(self) -> list:
        return [self.model]

    @property
    def max_text_tokens(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    def _inputs(self, pictures: list | None, texts: list[str] | None) -> Any:
        kwargs: dict = {"return_tensors": "pt"}
        if pictures is not None:
            kwargs["images"] = pictures
        if texts is not None:
            kwargs.update(text=texts, padding=True, truncation=True, max_length=self.max_text_tokens)
        return self.processor(**kwargs)

    def _run(self, method: str, batch: Any) -> Any:
        import torch

        with self._placed() as device, torch.inference_mode():
            dtype = next(self.model.parameters()).dtype
            inputs = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in batch.items()}
            output = getattr(self.model, method)(**inputs)
        return output

    def zero_shot(self, image: Any, labels: list[str]) -> Any:
        """Label probabilities ``[images, labels]`` (softmax of CLIP's scaled logits)."""
        output = self._run("__call__", self._inputs(tensor_to_pil_images(image), labels))
        return output.logits_per_image.float().softmax(dim=-1).cpu()

    def cosine(self, image: Any, texts: list[str]) -> Any:
        """Cosine similarity ``[images, texts]`` of the projected embeddings."""
        output = self._run("__call__", self._inputs(tensor_to_pil_images(image), texts))
        image_embeds = _normalised(output.image_embeds)
        text_embeds = _normalised(output.text_embeds)
        return (image_embeds @ text_embeds.T).float().cpu()

    def pair_cosine(self, images: list, texts: list[str], on_batch: Any = None) -> list[float]:
        """Cosine similarity of each (image, text) pair, in batches of 32 pairs."""
        scores: list[float] = []
        for start in range(0, len(images), 32):
            if on_batch is not None:
                on_batch(start, len(images))
            pictures = [tensor_to_pil_images(image)[0] for image in images[start:start + 32]]
            output = self._run("__call__", self._inputs(pictures, texts[start:start + 32]))
            similarity = (_normalised(output.image_embeds) * _normalised(output.text_embeds)).sum(dim=-1)
            scores.extend(similarity.float().cpu().tolist())
        return scores

    def _placed(self):
        if self.manager is not None:
            return self.manager.on_device(self.model)
        return contextlib.nullcontext(next(self.model.parameters()).device)


def _normalised(vectors: Any) -> Any:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def load_clip_model(path: str | Path, dtype: Any = None, manager: Any = None) -> CLIPScorer:
    from transformers import AutoConfig, AutoProcessor, CLIPModel

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path.name}: a CLIP model must be a transformers folder "
                         "(config.json, safetensors, processor)")
    config = AutoConfig.from_pretrained(path)
    if config.model_type != "clip":
        raise ValueError(f"{path.name}: expected a full CLIP model (model_type 'clip'), got {config.model_type!r}")
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = from_pretrained_safely(CLIPModel, path, **kwargs).eval()
    return CLIPScorer(model, AutoProcessor.from_pretrained(path), name=path.name, manager=manager)
