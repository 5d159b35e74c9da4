"""The shipped VLM workflows run headless on the demo models; the dataset captioner resumes."""
from __future__ import annotations

import json

from tests.fixtures.vlm import random_image


def _dataset(base, count: int = 3) -> None:
    from tests.fixtures.vlm import save_png

    for index in range(count):
        save_png(random_image(60 + index, 40 + 8 * index, 48), base / "input" / "dataset" / f"img_{index}.png")


def test_family_workflows_run_headless(tmp_path, vlm_models_dir, capsys):
    from models.demo.vlm_families import write_demo_video
    from tests.fixtures.vlm import run_workflow

    _dataset(tmp_path)
    write_demo_video(tmp_path / "input")
    for workflow in ("blip2_caption.json", "fuyu_caption.json"):
        code, out = run_workflow(tmp_path, vlm_models_dir, workflow, capsys)
        assert code == 0, out
        assert out.count("\n") >= 3  # three captions shown
    code, out = run_workflow(tmp_path, vlm_models_dir, "qwen_vl_grounding.json", capsys)
    assert code == 0, out
    assert len(list((tmp_path / "output" / "grounding").glob("boxes_*.png"))) == 3
    code, out = run_workflow(tmp_path, vlm_models_dir, "video_qa.json", capsys)
    assert code == 0, out
    assert "node 5: " in out and len(list((tmp_path / "output" / "video").glob("sampled_*.mp4"))) == 1


def test_caption_dataset_resumes_and_scores(tmp_path, vlm_models_dir, capsys):
    from tests.fixtures.vlm import run_workflow

    _dataset(tmp_path)
    code, out = run_workflow(tmp_path, vlm_models_dir, "caption_dataset.json", capsys)
    assert code == 0, out
    target = tmp_path / "output" / "captions" / "dataset.jsonl"
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["file"] for r in rows] == ["img_0.png", "img_1.png", "img_2.png"]
    assert all(isinstance(r["caption"], str) and -1 <= r["clip_score"] <= 1 for r in rows)

    # a run stopped mid-write: the torn last line is ignored and its image captioned again
    lines = target.read_text().splitlines()
    target.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])
    _dataset(tmp_path, 4)
    code, out = run_workflow(tmp_path, vlm_models_dir, "caption_dataset.json", capsys)
    assert code == 0, out
    report = json.loads(out.split("node 3: ", 1)[1].splitlines()[0])
    assert report["already_captioned"] == 2 and report["captioned"] == 2 and report["images"] == 4
    files = []
    for line in target.read_text().splitlines():
        try:
            files.append(json.loads(line)["file"])
        except ValueError:
            continue
    assert sorted(files) == ["img_0.png", "img_1.png", "img_2.png", "img_3.png"]
    again = [json.loads(line) for line in target.read_text().splitlines()[-2:]]
    assert again[0]["caption"] == rows[2]["caption"]  # same image, same greedy caption


def test_dataset_progress_has_an_eta():
    from nodes.understanding.caption_dataset import eta_text

    assert eta_text(10, 40, 5.0) == "ETA 0m15s"
    assert eta_text(1, 7201, 1.0) == "ETA 2h00m00s"
    assert eta_text(0, 10, 1.0) == "ETA unknown"
