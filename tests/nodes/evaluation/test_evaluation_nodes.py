"""Evaluation nodes on the tiny random-weight VLMs: predictions equal transformers called directly
with the same prompts (fidelity), scores equal an independent recount, and the shipped evaluation
workflows run headless."""
from __future__ import annotations

import base64
import io
import json
from collections import defaultdict

import pytest

from tests.fixtures.vlm import ROOT, run_workflow

LETTERS = "ABCD"


@pytest.fixture
def benchmarks(vlm_env):
    from models.demo.evaluation import write_demo_benchmarks

    write_demo_benchmarks(vlm_env.base / "models", input_dir=vlm_env.base / "input")
    return vlm_env.base / "input" / "benchmarks"


def _predictions(vlm_env, vlm_name, benchmark_file, method, circular=True):
    """Call the node functions directly (the graph path is covered by the workflow tests)."""
    from nodes.evaluation.answering import vlm_multiple_choice
    from nodes.evaluation.benchmarks import load_benchmark
    from nodes.understanding.vlm import vlm_loader

    ctx = vlm_env.context()
    bench = load_benchmark(ctx, f"benchmarks/{benchmark_file}")[0]
    vlm = vlm_env.load(vlm_loader, vlm_name)
    return vlm, bench, vlm_multiple_choice(ctx, vlm, bench, method, circular, 6, "m")[0]


def _direct_inputs(vlm, bench, item, options, reply: str = ""):
    """The processor's inputs built here from the raw file: the picture decoded from base64 and the
    chat template applied to the same question text."""
    from PIL import Image

    from models.evaluation.vlm_answers import question_prompt

    row = bench.path.read_bytes().splitlines()[item.line - 1].decode().split("\t")
    picture = Image.open(io.BytesIO(base64.b64decode(row[-1]))).convert("RGB")
    conversation = [{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": question_prompt(item, options)}]}]
    text = vlm.processor.apply_chat_template(conversation, add_generation_prompt=True)
    return vlm.processor(images=[picture], text=[text + reply], return_tensors="pt")


def test_generated_answers_equal_transformers_generate(vlm_env, benchmarks):
    import torch

    from models.evaluation.answers import extract_choice
    from models.evaluation.scoring import rotations

    vlm, bench, predictions = _predictions(vlm_env, "tiny-llava", "demo_mmbench.tsv", "generate")
    assert len(predictions.records) == 16  # 4 questions x 4 rotations
    by_key = {(r.item_id, r.rotation): r for r in predictions.records}
    for item in bench:
        for shift, options, answer in rotations(item.options, item.answer):
            inputs = _direct_inputs(vlm, bench, item, options)
            with torch.inference_mode():
                output = vlm.model.generate(**inputs, max_new_tokens=6, do_sample=False)
            text = vlm.processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:],
                                                  skip_special_tokens=True).strip()
            record = by_key[(item.item_id, shift)]
            assert record.raw == text and record.answer == answer
            assert record.predicted == extract_choice(text, options)


def test_likelihood_answers_equal_a_direct_forward_pass(vlm_env, benchmarks):
    import torch

    vlm, bench, predictions = _predictions(vlm_env, "tiny-llava-next", "demo_mmbench.tsv", "likelihood",
                                           circular=False)
    assert len(predictions.records) == 4
    for item, record in zip(bench, predictions.records):
        prompt_length = _direct_inputs(vlm, bench, item, item.options)["input_ids"].shape[1]
        scores = []
        for option in item.options:
            full = _direct_inputs(vlm, bench, item, item.options, reply=" " + option)
            with torch.inference_mode():
                logits = vlm.model(**full).logits[0, prompt_length - 1:-1].float()
            targets = full["input_ids"][0, prompt_length:]
            scores.append(float(torch.log_softmax(logits, dim=-1)[torch.arange(len(targets)), targets].sum()))
        assert [float(s) for s in record.raw.split()] == pytest.approx(scores, abs=1e-3)
        assert record.predicted == LETTERS[max(range(len(scores)), key=scores.__getitem__)]


def test_scores_equal_an_independent_recount(vlm_env, benchmarks):
    from nodes.evaluation.scoring import circular_eval_node, hallucination_probe_node

    _, _, predictions = _predictions(vlm_env, "tiny-llava", "demo_mmbench.tsv", "generate")
    result, summary = circular_eval_node(predictions)
    rotations_right = defaultdict(list)
    for record in predictions.records:
        rotations_right[record.item_id].append(record.predicted == record.answer)
    expected = sum(all(v) and len(v) == 4 for v in rotations_right.values()) / len(rotations_right)
    assert result.overall == expected and "circular accuracy" in summary
    plain = sum(r.predicted == r.answer for r in predictions.records if r.rotation == 0) / 4
    assert result.details["plain_accuracy"] == plain

    _, _, probes = _predictions(vlm_env, "tiny-llava", "demo_pope_random.jsonl", "generate")
    probe_result, text = hallucination_probe_node(probes)
    pairs = [(r.answer, r.predicted) for r in probes.records]
    accuracy = sum(a == p for a, p in pairs) / len(pairs)
    assert probe_result.details["splits"]["random"]["accuracy"] == pytest.approx(accuracy)
    assert "random" in text and len(probes.records) == 8


def test_interrupt_stops_between_questions(vlm_env, benchmarks):
    from execution.context import InterruptFlag, InterruptedError_
    from nodes.evaluation.answering import vlm_multiple_choice
    from nodes.evaluation.benchmarks import load_benchmark
    from nodes.understanding.vlm import vlm_loader

    flag = InterruptFlag()

    class Events(list):
        def append(self, event) -> None:
            super().append(event)
            if event.type == "progress":
                flag.set()  # the user interrupts once the first question is answered

    events = Events()
    ctx = vlm_env.context(events, interrupt=flag)
    bench = load_benchmark(ctx, "benchmarks/demo_mmbench.tsv")[0]
    vlm = vlm_env.load(vlm_loader, "tiny-llava")
    with pytest.raises(InterruptedError_):
        vlm_multiple_choice(ctx, vlm, bench, "generate", True, 4, "m")
    assert [e.value for e in events if e.type == "progress"] == [1]


@pytest.mark.parametrize("workflow", ["eval_mmbench_two_vlms.json", "eval_pope.json"])
def test_shipped_evaluation_workflows_run_headless(tmp_path, vlm_models_dir, capsys, workflow):
    from models.demo.evaluation import write_demo_benchmarks

    write_demo_benchmarks(tmp_path / "models", input_dir=tmp_path / "input")
    code, out = run_workflow(tmp_path, vlm_models_dir, workflow, capsys)
    assert code == 0, out
    reports = sorted((tmp_path / "output" / "evaluation").glob("*.csv"))
    assert len(reports) == 1
    table = reports[0].read_text().splitlines()
    rows = [json.loads(line) for line in reports[0].with_suffix(".jsonl").read_text().splitlines()]
    if workflow == "eval_pope.json":
        assert table[0].startswith("name,metric,overall") and len(rows) == 8
    else:
        assert [line.split(",")[0] for line in table[1:]] == ["llava", "llava-next"]
        assert len(rows) == 32 and {r["name"] for r in rows} == {"llava", "llava-next"}


def test_generation_sweep_compares_two_samplers_on_a_prompt_list(tmp_path, demo_models_dir, capsys):
    import main

    (tmp_path / "extra_model_paths.yaml").write_text(
        f"demo:\n  base_path: {demo_models_dir}\n  checkpoints: checkpoints\n  clip_models: clip_models\n")
    code = main.main(["--base-directory", str(tmp_path), "run",
                      str(ROOT / "workflows" / "eval_generation_sweep.json"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = next((tmp_path / "output" / "evaluation").glob("sweep_*.csv")).read_text().splitlines()
    assert [line.split(",")[0] for line in report[1:]] == ["euler 4 steps", "dpmpp_2m 8 steps"]
    rows = [json.loads(line) for line in next((tmp_path / "output" / "evaluation").glob("sweep_*.jsonl")).open()]
    assert [r["item"] for r in rows[:3]] == ["a photo of a red cat", "a photo of a blue dog", "a green forest at sunset"]
    assert all(-1.0 <= r["score"] <= 1.0 for r in rows) and len(rows) == 6
    assert len(list((tmp_path / "output" / "evaluation").glob("sweep_a_*.png"))) == 3
