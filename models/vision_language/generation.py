"""Greedy or sampled decoding settings, and the per-token hook that streams each row's text.

``generate`` calls one ``StoppingCriteria`` after appending every token: the hook turns each
unfinished row's new token into text (its own incremental decoder per row) and answers whether to
stop (the interrupt check), so interrupt stops within one token.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

# on_token(row, piece, tokens_so_far_in_that_row): the piece may be empty (an incomplete character);
# it is None for the row's end token (the row is finished).
TokenCallback = Callable[[int, "str | None", int], None]


@dataclass
class GenerationSettings:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def generate_kwargs(self) -> dict:
        if self.greedy:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": float(self.temperature), "top_p": float(self.top_p)}


class IncrementalText:
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


def token_hooks(tokenizer: Any, end_token_ids: set[int], on_token: TokenCallback | None,
                should_stop: Callable[[], bool] | None) -> Any:
    """A ``StoppingCriteriaList`` with one hook that streams every row and checks ``should_stop``.

    A row is finished once it produced an end token; ``generate`` pads it from then on and the
    hook reports nothing more for it (per-sequence stopping)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    if on_token is None and should_stop is None:
        return None

    class TokenHook(StoppingCriteria):
        def __init__(self) -> None:
            self.texts: list[IncrementalText] = []
            self.counts: list[int] = []
            self.finished: list[bool] = []
            self.answers: dict[bool, Any] = {}  # reused answer tensors: no per-token allocation

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            stop = bool(should_stop()) if should_stop is not None else False
            if on_token is not None and not stop:  # nothing is reported once stopping
                self._stream(input_ids[:, -1].tolist())
            answer = self.answers.get(stop)
            if answer is None or answer.shape[0] != input_ids.shape[0] or answer.device != input_ids.device:
                answer = self.answers[stop] = torch.full((input_ids.shape[0],), stop, dtype=torch.bool,
                                                         device=input_ids.device)
            return answer

        def _stream(self, last_tokens: list[int]) -> None:
            if not self.texts:
                self.texts = [IncrementalText(tokenizer) for _ in last_tokens]
                self.counts = [0] * len(last_tokens)
                self.finished = [False] * len(last_tokens)
            for row, token in enumerate(last_tokens):
                if self.finished[row]:
                    continue
                self.counts[row] += 1
                if token in end_token_ids:
                    self.finished[row] = True
                    on_token(row, None, self.counts[row])
                else:
                    on_token(row, self.texts[row].add(int(token)), self.counts[row])

    return StoppingCriteriaList([TokenHook()])


@contextlib.contextmanager
def seeded(settings: GenerationSettings, device: Any):
    """Sampling draws from a private copy of the RNG state, seeded by ``seed``."""
    import torch

    if settings.greedy:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(settings.seed) & 0xFFFF_FFFF_FFFF_FFFF)
        yield


class OrderedLines:
    """Streams the replies of a batch as consecutive lines, in order, while they are generated.

    Text frames are appended to what a node shows, so rows cannot be written side by side: the
    first unfinished row streams live and the others are buffered until their turn."""

    def __init__(self, rows: int, write: Callable[[str], None], first_line: bool):
        self.write = write
        self.buffers = [""] * rows
        self.done = [False] * rows
        self.current = 0
        self.started = [False] * rows
        self.first_line = first_line  # no line break before the very first reply

    def add(self, row: int, piece: str) -> None:
        self.buffers[row] += piece
        if row == self.current:
            self._flush_current()

    def finish(self, row: int) -> None:
        self.done[row] = True
        while self.current < len(self.done) and self.done[self.current]:
            self._flush_current()
            self.current += 1
            if self.current < len(self.done):
                self._flush_current()

    def close(self) -> None:
        for row in range(len(self.done)):
            self.finish(row)

    def _flush_current(self) -> None:
        row = self.current
        text = self.buffers[row]
        if not text:
            return
        if not self.started[row]:
            self.started[row] = True
            if not self.first_line or row:
                text = "\n" + text
        self.write(text)
        self.buffers[row] = ""
