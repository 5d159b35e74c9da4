"""Reading option letters and yes/no out of free-text replies (the rules in models/evaluation/answers.py)."""
from __future__ import annotations

import pytest

from models.evaluation.answers import extract_choice, extract_yes_no

OPTIONS = ("red circle", "blue square", "green triangle", "yellow square")


@pytest.mark.parametrize("reply, expected", [
    ("B", "B"), (" (C) ", "C"), ("D.", "D"), ("[A]", "A"), ("**B**", "B"), ("B: blue square", "B"),
    ("C. green triangle", "C"), ("A) red circle", "A"),
    ("The answer is C.", "C"), ("Answer: (D)", "D"), ("I pick option B because it is blue", "B"),
    ("answer is b", "B"),
    ("It shows a blue square.", "B"),  # no letter: the one option text it names
    ("A cat sits on a mat, so B", "B"),  # the article 'A' is not option A
    ("A red circle", "A"),  # the article, then option A's text
    ("yellow square, I think", "D"),  # 'square' inside 'blue square' does not make it a tie
])
def test_extracts_the_chosen_option(reply, expected):
    assert extract_choice(reply, OPTIONS) == expected


@pytest.mark.parametrize("reply", [
    "", "   ", "I cannot answer that.", "Sorry, I can't see the image.",  # refusals and empty replies
    "A or B", "B and C are both plausible",  # ties between letters
    "The answer is B. No wait, the answer is C.",  # two stated answers
    "E", "The answer is F",  # letters that are not options of a 4-option item
    "a circle and a square",  # malformed: names no option exactly
    "red circle or blue square",  # tie between option texts
])
def test_no_answer_when_the_reply_does_not_decide(reply):
    assert extract_choice(reply, OPTIONS) is None


def test_only_the_items_own_letters_count():
    assert extract_choice("C", ("yes", "no")) is None
    assert extract_choice("B", ("yes", "no")) == "B"


@pytest.mark.parametrize("reply, expected", [
    ("Yes", "yes"), ("yes, there is", "yes"), ("No.", "no"), ("There is not a dog", "no"),
    ("No, yes", "no"), ("maybe", None), ("", None), ("Yesterday", None),
])
def test_yes_no(reply, expected):
    assert extract_yes_no(reply) == expected
