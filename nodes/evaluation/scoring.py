"""Scores as nodes: MMBench's CircularEval, POPE's hallucination metrics, and score summaries for
generation sweeps. Each gives an ``EVAL_RESULT`` (for ``EvalReport``) and a readable summary."""
from __future__ import annotations

import json

from execution.declare import In, Out, String, node


def _summary(result) -> str:
    lines = [f"{result.name}: {result.metric} {result.overall:.4f}"]
    lines += [f"  {category}: {value:.4f}" for category, value in result.per_category.items()]
    figures = {k: v for k, v in result.details.items() if not isinstance(v, dict)}
    if figures:
        lines.append("  " + json.dumps(figures, default=float))
    return "\n".join(lines)


@node("CircularEval", display_name="Circular Eval (MMBench)", category="evaluation",
      inputs=[In("predictions", "PREDICTIONS")],
      outputs=[Out("EVAL_RESULT"), Out("STRING", "summary")])
def circular_eval_node(predictions):
    """A question counts only if every rotation of its options is answered right; plain accuracy beside it."""
    from models.evaluation.scoring import circular_eval

    result = circular_eval(predictions.records, predictions.model_name)
    return (result, _summary(result))


@node("HallucinationProbe", display_name="Hallucination Probe (POPE)", category="evaluation",
      inputs=[In("predictions", "PREDICTIONS")],
      outputs=[Out("EVAL_RESULT"), Out("STRING", "summary")])
def hallucination_probe_node(predictions):
    """Accuracy, precision, recall, F1 and yes ratio of yes/no probes, per split."""
    from models.evaluation.scoring import hallucination_probe

    result = hallucination_probe(predictions.records, predictions.model_name)
    per_split = result.details["splits"]
    text = _summary(result) + "\n" + "\n".join(
        f"  {split}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items())
        for split, m in per_split.items())
    return (result, text)


@node("ScoreSummary", display_name="Score Summary", category="evaluation", input_is_list=True,
      inputs=[In("scores", "FLOAT"), String("name", "run"),
              In("labels", "STRING", optional=True, tooltip="what each score belongs to (e.g. the prompts)")],
      outputs=[Out("EVAL_RESULT"), Out("STRING", "summary"), Out("IMAGE", "histogram")])
def score_summary(scores: list, name: list, labels: list | None = None):
    """Mean, spread, quantiles and a histogram of per-image scores (e.g. CLIP scores of a sweep)."""
    from models.evaluation.report import histogram
    from models.evaluation.scoring import summarize_scores
    from nodes.image.tensor_ops import pil_to_tensor

    values = [float(v) for group in scores for v in (group if isinstance(group, (list, tuple)) else [group])]
    result = summarize_scores(values, name[0], [str(label) for label in labels or []])
    return (result, _summary(result), pil_to_tensor(histogram(values)))


@node("PromptList", display_name="Prompt List", category="evaluation",
      inputs=[String("prompts", "a photo of a cat\na photo of a dog", multiline=True,
                     tooltip="one prompt per line")],
      outputs=[Out("STRING", "prompt", is_list=True)])
def prompt_list(prompts: str):
    """One prompt per non-empty line, as a list: the nodes after it run once per prompt."""
    lines = [line.strip() for line in prompts.splitlines() if line.strip()]
    if not lines:
        raise ValueError("PromptList needs at least one non-empty line")
    return (lines,)
