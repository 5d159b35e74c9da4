"""CircularEval, POPE metrics and score summaries against hand-computed results."""
from __future__ import annotations

import statistics

import pytest

from models.evaluation.items import MULTIPLE_CHOICE, YES_NO, Prediction
from models.evaluation.scoring import circular_eval, hallucination_probe, rotations, summarize_scores


def test_rotations_move_the_answer_with_its_text():
    options = ("cat", "dog", "fox")
    got = rotations(options, "B")
    assert got == [(0, ("cat", "dog", "fox"), "B"), (1, ("dog", "fox", "cat"), "A"), (2, ("fox", "cat", "dog"), "C")]
    for _, rotated, letter in got:
        assert rotated["ABC".index(letter)] == "dog"


def _mc(item: str, rotation: int, correct: bool, category: str, count: int = 4) -> Prediction:
    return Prediction(item, MULTIPLE_CHOICE, rotation, tuple("wxyz"[:count]), "A", "A" if correct else "B",
                      "", category)


def test_circular_eval_needs_every_rotation_right():
    records = (
        [_mc("q1", r, True, "shape") for r in range(4)]  # all right: counts
        + [_mc("q2", r, r != 2, "shape") for r in range(4)]  # one rotation wrong: does not count
        + [_mc("q3", r, True, "color") for r in range(3)]  # a rotation is missing: does not count
        + [_mc("q4", r, True, "color", count=2) for r in range(2)]  # two options, both right
    )
    result = circular_eval(records, "m")
    assert result.overall == pytest.approx(2 / 4)
    assert result.per_category == {"color": pytest.approx(1 / 2), "shape": pytest.approx(1 / 2)}
    assert result.details["plain_accuracy"] == pytest.approx(4 / 4)  # rotation 0 is right everywhere
    assert result.details["questions"] == 4


def test_circular_eval_counts_no_answer_as_wrong_and_skips_unlabelled_items():
    records = [_mc("q1", r, True, "a") for r in range(2)]
    records[1].predicted = None
    unlabelled = Prediction("q2", MULTIPLE_CHOICE, 0, ("x", "y"), None, "A", "", "a")
    result = circular_eval(records + [unlabelled], "m")
    assert result.overall == 0.0 and result.details["questions"] == 1


def _probe(label: str, predicted: str | None, split: str = "random") -> Prediction:
    return Prediction("i", YES_NO, 0, ("yes", "no"), label, predicted, "", "", split)


def test_pope_metrics_by_hand():
    records = ([_probe("yes", "yes")] * 3 + [_probe("yes", "no")] + [_probe("yes", None)]  # TP 3, FN 2
               + [_probe("no", "no")] * 4 + [_probe("no", "yes")] + [_probe("no", None)]  # TN 4, FP 2
               + [_probe("yes", "yes", "popular")])
    result = hallucination_probe(records, "m")
    random_split = result.details["splits"]["random"]
    precision, recall = 3 / 5, 3 / 5
    assert random_split["accuracy"] == pytest.approx(7 / 11)
    assert random_split["precision"] == pytest.approx(precision)
    assert random_split["recall"] == pytest.approx(recall)
    assert random_split["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert random_split["yes_ratio"] == pytest.approx(4 / 11)
    assert random_split["no_answer"] == 2
    assert result.details["splits"]["popular"]["accuracy"] == 1.0
    assert result.details["overall"]["count"] == 12
    assert result.overall == pytest.approx(result.details["overall"]["f1"])


def test_pope_all_no_answers_gives_zero_not_a_crash():
    result = hallucination_probe([_probe("yes", None), _probe("no", None)], "m")
    assert result.overall == 0.0 and result.details["overall"]["accuracy"] == 0.0


def test_score_summary_matches_the_statistics_module():
    scores = [0.31, 0.12, 0.25, 0.25, 0.4, 0.05, 0.33]
    result = summarize_scores(scores, "sweep", [f"p{i}" for i in range(len(scores))])
    assert result.overall == pytest.approx(statistics.fmean(scores))
    assert result.details["std"] == pytest.approx(statistics.pstdev(scores))
    assert result.details["median"] == pytest.approx(statistics.median(scores))
    quantiles = statistics.quantiles(scores, n=10, method="inclusive")
    assert result.details["p10"] == pytest.approx(quantiles[0])
    assert result.details["p90"] == pytest.approx(quantiles[-1])
    assert result.records[1] == {"item": "p1", "score": 0.12}
    with pytest.raises(ValueError):
        summarize_scores([], "empty")
