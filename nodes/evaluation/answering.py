"""A vision-language model answers a benchmark: multiple choice (optionally every circular rotation)
or yes/no probes, by generating and reading the reply or by scoring each option's likelihood."""
from __future__ import annotations

from execution.declare import Boolean, Combo, In, Int, Out, String, node


@node("VLMMultipleChoice", display_name="VLM Answer Benchmark", category="evaluation",
      inputs=[In("vlm", "VLM"), In("benchmark", "BENCHMARK"),
              Combo("method", ["generate", "likelihood"],
                    tooltip="generate: read the option letter from the reply; likelihood: pick the most "
                            "likely option text"),
              Boolean("circular", True, tooltip="ask every rotation of the options (MMBench's CircularEval)"),
              Int("max_new_tokens", 8, min=1, max=512),
              String("model_name", "", tooltip="the name shown in reports (default: the model's folder)")],
      outputs=[Out("PREDICTIONS")])
def vlm_multiple_choice(ctx, vlm, benchmark, method: str = "generate", circular: bool = True,
                        max_new_tokens: int = 8, model_name: str = ""):
    """Answer every item of the benchmark; progress per question, interruptible between questions."""
    from models.evaluation.answers import extract_choice, extract_yes_no
    from models.evaluation.benchmark_files import open_images
    from models.evaluation.items import MULTIPLE_CHOICE, Prediction, Predictions
    from models.evaluation.scoring import rotations
    from models.evaluation.vlm_answers import (best_option, compose_pictures, generate_reply, option_scores,
                                               question_prompt)

    result = Predictions(model_name or getattr(vlm, "name", "") or "model", benchmark.name)
    total = len(benchmark)
    for done, item in enumerate(benchmark):
        ctx.check_interrupt()
        picture = compose_pictures(open_images(item, benchmark.path))
        if item.kind == MULTIPLE_CHOICE:
            passes = rotations(item.options, item.answer) if circular else [(0, item.options, item.answer)]
        else:
            passes = [(0, item.options, item.answer)]
        for shift, options, answer in passes:
            prompt = question_prompt(item, options)
            if method == "likelihood":
                scores = option_scores(vlm, picture, prompt, options)
                predicted = best_option(scores)
                if item.kind != MULTIPLE_CHOICE and predicted is not None:
                    predicted = options["AB".index(predicted)]
                raw = " ".join(f"{s:.4f}" for s in scores)
            else:
                raw = generate_reply(vlm, picture, prompt, max_new_tokens, should_stop=lambda: ctx.interrupted)
                ctx.check_interrupt()
                predicted = extract_choice(raw, options) if item.kind == MULTIPLE_CHOICE else extract_yes_no(raw)
            result.records.append(Prediction(item.item_id, item.kind, shift, options, answer, predicted, raw,
                                             item.category, item.split))
        ctx.progress(done + 1, total)
    return (result,)
