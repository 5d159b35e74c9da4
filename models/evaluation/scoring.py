"""Scores from predictions: MMBench's CircularEval, POPE's yes/no metrics, and score summaries.

CircularEval: an N-option question is asked N times, the options rotated by 0..N-1 places (the
right answer's letter moves with its text); the question counts as correct only if every
rotation is answered right. A missing rotation counts as wrong. The plain (single-pass) accuracy
uses rotation 0 alone, so the two can be read side by side: the gap is the position bias.

POPE: precision, recall and F1 take "yes" as the positive class. A reply with neither yes nor no
is always wrong: a "no answer" on a yes-probe counts as a false negative, on a no-probe as a false
positive. The yes ratio is the share of explicit "yes" replies.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

from models.evaluation.items import LETTERS, EvalResult, Prediction


def rotations(options: tuple[str, ...], answer: str | None) -> list[tuple[int, tuple[str, ...], str | None]]:
    """``(shift, rotated options, the answer's letter there)`` for every circular shift."""
    count = len(options)
    out = []
    for shift in range(count):
        rotated = tuple(options[(i + shift) % count] for i in range(count))
        moved = None if answer is None else LETTERS[(LETTERS.index(answer) - shift) % count]
        out.append((shift, rotated, moved))
    return out


def _rate(correct: int, total: int) -> float:
    return correct / total if total else 0.0


def circular_eval(records: Iterable[Prediction], name: str) -> EvalResult:
    by_item: dict[str, list[Prediction]] = defaultdict(list)
    for record in records:
        if record.answer is not None:
            by_item[record.item_id].append(record)
    circular: dict[str, list[bool]] = defaultdict(list)  # category -> per-question result
    plain: dict[str, list[bool]] = defaultdict(list)
    rows = []
    for item_id, answers in by_item.items():
        expected = len(answers[0].options)
        seen = {r.rotation: r for r in answers}
        passed = len(seen) == expected and all(r.correct for r in seen.values())
        category = answers[0].category or "all"
        circular[category].append(passed)
        if 0 in seen:
            plain[category].append(seen[0].correct)
        rows.extend({**r.as_dict(), "circular_correct": passed} for r in answers)
    flat = [v for values in circular.values() for v in values]
    flat_plain = [v for values in plain.values() for v in values]
    return EvalResult(
        name=name, metric="circular accuracy", overall=_rate(sum(flat), len(flat)),
        per_category={c: _rate(sum(v), len(v)) for c, v in sorted(circular.items())},
        details={"questions": len(flat), "plain_accuracy": _rate(sum(flat_plain), len(flat_plain)),
                 "plain_per_category": {c: _rate(sum(v), len(v)) for c, v in sorted(plain.items())}},
        records=rows)


def _binary_metrics(records: list[Prediction]) -> dict[str, float]:
    tp = sum(r.answer == "yes" and r.predicted == "yes" for r in records)
    tn = sum(r.answer == "no" and r.predicted == "no" for r in records)
    fp = sum(r.answer == "no" and r.predicted != "no" for r in records)
    fn = sum(r.answer == "yes" and r.predicted != "yes" for r in records)
    precision, recall = _rate(tp, tp + fp), _rate(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": _rate(tp + tn, len(records)), "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": _rate(sum(r.predicted == "yes" for r in records), len(records)),
            "no_answer": sum(r.predicted is None for r in records), "count": len(records)}


def hallucination_probe(records: Iterable[Prediction], name: str) -> EvalResult:
    labelled = [r for r in records if r.answer in ("yes", "no")]
    by_split: dict[str, list[Prediction]] = defaultdict(list)
    for record in labelled:
        by_split[record.split or "all"].append(record)
    overall = _binary_metrics(labelled)
    splits = {split: _binary_metrics(rows) for split, rows in sorted(by_split.items())}
    return EvalResult(name=name, metric="F1", overall=overall["f1"],
                      per_category={split: metrics["f1"] for split, metrics in splits.items()},
                      details={"overall": overall, "splits": splits},
                      records=[r.as_dict() for r in labelled])


def summarize_scores(scores: list[float], name: str, labels: list[str] | None = None) -> EvalResult:
    """Mean, spread and quantiles of per-item scores (e.g. CLIP scores of generated images)."""
    values = sorted(float(s) for s in scores)
    if not values:
        raise ValueError("no scores to summarise")
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))

    def quantile(q: float) -> float:  # linear interpolation, as numpy's default
        position = q * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    rows = [{"item": (labels[i] if labels and i < len(labels) else str(i)), "score": float(s)}
            for i, s in enumerate(scores)]
    return EvalResult(name=name, metric="mean score", overall=mean,
                      details={"count": len(values), "std": spread, "min": values[0], "max": values[-1],
                               "median": quantile(0.5), "p10": quantile(0.1), "p90": quantile(0.9)},
                      records=rows)
