"""Expanding a prompt's media placeholders (``<image>``, ``<|video_pad|>``...) into the tokens the
model fills with vision features, as transformers' processors do before tokenizing."""
from __future__ import annotations


def expand_placeholders(texts: list[str], token: str, replacements: list[str]) -> list[str]:
    """Each ``token``, in order across the texts, replaced by the next replacement."""
    found = sum(text.count(token) for text in texts)
    if found != len(replacements):
        raise ValueError(f"{len(replacements)} inputs for {found} {token} placeholders")
    expanded, next_replacement = [], iter(replacements)
    for text in texts:
        pieces = text.split(token)
        expanded.append(pieces[0] + "".join(next(next_replacement) + piece for piece in pieces[1:]))
    return expanded
