"""Vision-language models (``VLM``): LLaVA 1.5 and LLaVA-NeXT (AnyRes) on transformers' own classes.

Generation streams: a callback gets the decoded text after every new token, and a stop check is
consulted before every next token (interrupt stops within one token).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# config.model_type -> (transformers model class name, family)
VLM_ARCHITECTURES = {
    "llava": ("LlavaForConditionalGeneration", "llava"),
    "llava_next": ("LlavaNextForConditionalGeneration", "llava_next"),
}
FALLBACK_PROMPT = "USER: <image>\n{prompt} ASSISTANT:"  # LLaVA 1.5's format, when no chat template


@dataclass
class GenerationSettings:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0

    def generate_kwargs(self) -> dict:
        if self.temperature <= 0:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": float(self.temperature), "top_p": float(self.top_p)}


class VisionLanguageModel:
    """A LLaVA-family model with its processor (image processor, tokenizer, chat template)."""

    def __init__(self, model: Any, processor: Any, family: str, name: str = "", manager: Any = None):
        self.model = model
        self.processor = processor
        self.family = family
        self.name = name
        self.manager = manager
        self._chat_texts: dict[str, str] = {}  # prompt -> rendered chat template (rendering costs ~0.1 ms)

    def torch_modules(self) -> list:
        return [self.model]

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    def context_length(self) -> int:
        text_config = self.model.config.get_text_config()
        return int(getattr(text_config, "max_position_embeddings", 0) or 2048)

    def chat_text(self, prompt: str) -> str:
        """The prompt in the model's conversation format, with one image placeholder.

        A prompt that already contains ``<image>`` is taken as a complete raw prompt."""
        image_token = getattr(self.processor, "image_token", "<image>")
        if image_token in prompt:
            return prompt
        cached = self._chat_texts.get(prompt)
        if cached is not None:
            return cached
        if getattr(self.processor, "chat_template", None):
            conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            text = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        else:
            text = FALLBACK_PROMPT.format(prompt=prompt)
        if len(self._chat_texts) >= 64:
            self._chat_texts.clear()
        self._chat_texts[prompt] = text
        return text

    def prepare(self, picture: Any, prompt: str) -> Any:
        """Processor outputs (``input_ids``, ``pixel_values``...) for one PIL image."""
        return self.processor(images=[picture], text=[self.chat_text(prompt)], return_tensors="pt")

    def generate(self, inputs: Any, settings: GenerationSettings, on_text: Callable[[str, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> str:
        """Decode a reply; ``on_text(new_piece, n_tokens)`` after each token (the piece may be
        empty); ``should_stop()`` ends generation before the next token."""
        import torch

        hooks = _token_hooks(self.tokenizer, on_text, should_stop)
        with self._placed() as device, torch.inference_mode(), _seeded(settings, device):
            dtype = next(self.model.parameters()).dtype
            model_inputs = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                            for k, v in inputs.items()}
            output = self.model.generate(**model_inputs, max_new_tokens=settings.max_new_tokens,
                                         stopping_criteria=hooks, pad_token_id=self._pad_token_id(),
                                         **settings.generate_kwargs())
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)

    def _pad_token_id(self) -> int | None:
        pad = self.model.generation_config.pad_token_id
        return pad if pad is not None else self.tokenizer.pad_token_id

    def _placed(self):
        if self.manager is not None:
            return self.manager.on_device(self.model)
        return contextlib.nullcontext(next(self.model.parameters()).device)


class _IncrementalText:
    """Turns generated token ids into new pieces of text, one token at a time.

    Uses the tokenizers library's ``DecodeStream`` (a couple of microseconds per token). Without a
    fast tokenizer, each step decodes a short window twice (without and with the new token, from
    the same start, so word-leading spaces come out right) and returns the difference; a piece
    ending in an incomplete character waits for the next token.
    """

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.prefix_offset = 0  # window start (fallback path)
        self.read_offset = 0  # tokens already turned into text (fallback path)
        self.backend = getattr(tokenizer, "backend_tokenizer", None)
        self.stream = None
        if self.backend is not None:
            try:
                from tokenizers.decoders import DecodeStream

                self.stream = DecodeStream(skip_special_tokens=True)
            except ImportError:
                self.stream = None

    def add(self, token: int) -> str:
        self.tokens.append(token)
        if self.stream is not None:
            return self.stream.step(self.backend, token) or ""
        decode = self.tokenizer.decode
        before = decode(self.tokens[self.prefix_offset:self.read_offset], skip_special_tokens=True)
        after = decode(self.tokens[self.prefix_offset:], skip_special_tokens=True)
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(self.tokens)
        return after[len(before):]


def _token_hooks(tokenizer: Any, on_text: Callable[[str, int], None] | None,
                 should_stop: Callable[[], bool] | None) -> Any:
    """One ``StoppingCriteria`` that ``generate`` calls after appending each token (batch of one):
    it reports the token's text and, before the next token, answers whether to stop. Doing both
    in one hook costs less per token than a streamer plus a criterion."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    if on_text is None and should_stop is None:
        return None

    class TokenHook(StoppingCriteria):
        def __init__(self) -> None:
            self.text = _IncrementalText(tokenizer) if on_text is not None else None
            self.count = 0
            self.answers: dict[bool, Any] = {}  # reused answer tensors: no per-token allocation

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            self.count += 1
            if self.text is not None:
                on_text(self.text.add(int(input_ids[0, -1])), self.count)
            stop = bool(should_stop()) if should_stop is not None else False
            answer = self.answers.get(stop)
            if answer is None or answer.shape[0] != input_ids.shape[0] or answer.device != input_ids.device:
                answer = self.answers[stop] = torch.full((input_ids.shape[0],), stop, dtype=torch.bool,
                                                         device=input_ids.device)
            return answer

    return StoppingCriteriaList([TokenHook()])


@contextlib.contextmanager
def _seeded(settings: GenerationSettings, device: Any):
    """Sampling draws from a private copy of the RNG state, seeded by ``seed``."""
    import torch

    if settings.temperature <= 0:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(settings.seed) & 0xFFFF_FFFF_FFFF_FFFF)
        yield


def load_vlm(path: str | Path, dtype: Any = None, manager: Any = None) -> VisionLanguageModel:
    import transformers
    from transformers import AutoConfig, AutoProcessor

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path.name}: a VLM must be a transformers folder (config.json, safetensors, processor)")
    config = AutoConfig.from_pretrained(path)
    if config.model_type not in VLM_ARCHITECTURES:
        raise ValueError(f"{path.name}: unsupported VLM type {config.model_type!r}; "
                         f"supported: {', '.join(VLM_ARCHITECTURES)}")
    class_name, family = VLM_ARCHITECTURES[config.model_type]
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = getattr(transformers, class_name).from_pretrained(path, **kwargs).eval()
    processor = AutoProcessor.from_pretrained(path)
    return VisionLanguageModel(model, processor, family, name=path.name, manager=manager)
