"""Reading a model's free-text reply as an option letter or a yes/no.

Option extraction, in order (the first rule that decides, decides):
1. The reply, stripped, is a letter alone, possibly wrapped: ``B``, ``(B)``, ``B.``, ``B)``,
   ``[B]``, ``B:``, ``**B**``, or starts with one followed by a separator (``B. a cat``).
2. A stated answer: ``answer is B``, ``Answer: (B)``, ``option B``, ``choice B``. Several
   different stated letters are ambiguous: no answer.
3. Exactly one option letter stands alone somewhere in the reply (a capital ``A`` followed by a
   lowercase word other than or/and/nor is the article, not an option).
4. Exactly one option's text appears in the reply (case-insensitive, longest texts first, a text
   inside a longer matching text does not count twice).
Otherwise there is no answer (refusals, empty or malformed replies, ties between letters or
texts): the item counts as wrong. Only the item's own letters count (``E`` for a 4-option item is
no answer).

Yes/no: the first ``yes`` or ``no`` word of the reply (``not`` counts as no); none is no answer.
"""
from __future__ import annotations

import re

_WRAPPED_ALONE = re.compile(r"^[\s*_`\"'(\[]*([A-Z])[\s*_`\"')\]]*[.:)]?[\s*_`\"')\]]*$")
_LEADING = re.compile(r"^[\s*_`\"'(\[]*([A-Z])(?:[.:)\]]|\s*[-–—]\s)")
_STATED = re.compile(r"(?:answer(?:\s+is)?|option|choice)\s*[:\-]?\s*(?:is\s+)?[*_`\"'(\[]*([A-Z])\b(?![a-z'])",
                     re.IGNORECASE)
_STANDALONE = re.compile(r"(?<![A-Za-z0-9])([A-Z])(?![A-Za-z0-9])")
_YES_NO = re.compile(r"\b(yes|no|not)\b", re.IGNORECASE)


def extract_choice(reply: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The option letter the reply chooses, or None (see the module's rules)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:len(options)]
    text = (reply or "").strip()
    if not text:
        return None
    for pattern in (_WRAPPED_ALONE, _LEADING):
        found = pattern.match(text)
        if found:
            return found.group(1) if found.group(1) in letters else None
    stated = {m.group(1).upper() for m in _STATED.finditer(text)}
    if stated:
        return stated.pop() if len(stated) == 1 and next(iter(stated)) in letters else None
    standalone = {m.group(1) for m in _STANDALONE.finditer(text)
                  if m.group(1) in letters and not _is_article(text, m.start())}
    if len(standalone) == 1:
        return standalone.pop()
    if len(standalone) > 1:
        return None
    return _by_option_text(text, options, letters)


def _is_article(text: str, at: int) -> bool:
    """A capital ``A`` (or ``I``) starting a phrase like "A cat", not "A or B"."""
    return text[at] in "AI" and re.match(r"[A-Z]\s+(?!(?:or|and|nor)\b)[a-z]", text[at:at + 8]) is not None


def _by_option_text(text: str, options: tuple[str, ...] | list[str], letters: str) -> str | None:
    lowered = text.lower()
    order = sorted(range(len(options)), key=lambda i: -len(options[i]))
    claimed: list[tuple[int, int]] = []
    found: set[str] = set()
    for index in order:
        needle = options[index].strip().lower()
        if not needle:
            continue
        for match in re.finditer(re.escape(needle), lowered):
            span = (match.start(), match.end())
            if any(start <= span[0] and span[1] <= end for start, end in claimed):
                continue  # part of a longer option's text already found
            claimed.append(span)
            found.add(letters[index])
    return found.pop() if len(found) == 1 else None


def extract_yes_no(reply: str) -> str | None:
    found = _YES_NO.search(reply or "")
    if found is None:
        return None
    return "yes" if found.group(1).lower() == "yes" else "no"
