"""Scale-out on a real local Ray cluster (two fake GPUs): results, lost actors, interrupt, affinity.

Run alone with ``pytest -m cluster``. The cluster starts once per session (tests/fixtures/cluster.py).
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


def sleep_prompt(seconds: float, steps: int, value: int = 0, marker: str = "") -> dict:
    return {"1": {"class_type": "PxClusterSleep",
                  "inputs": {"seconds": seconds, "steps": steps, "value": value, "marker": marker}}}


def sd3_prompt(seed: int) -> dict:
    prompt = json.loads((ROOT / "workflows" / "sd3_text_to_image_api.json").read_text())
    for node in prompt.values():
        node.pop("_meta", None)
    prompt["4"]["inputs"].update(width=64, height=64)
    prompt["5"]["inputs"].update(seed=seed, steps=3)
    prompt["7"]["inputs"]["filename_prefix"] = f"cluster/seed{seed}"
    return prompt


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def one_torch_thread():
    """Like a Ray actor (OMP_NUM_THREADS=1); also, 2 threads on a busy 2-core machine run ~10x slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_twenty_sd3_prompts_on_two_actors_match_single_machine(make_cluster, demo_models_dir, sd3_env,
                                                               one_torch_thread):
    cluster = make_cluster(models_dir=demo_models_dir)
    seeds = list(range(20))
    ids = [cluster.submit(sd3_prompt(seed)) for seed in seeds]
    cluster.wait_finished(ids, timeout=240)

    pids = set()
    for seed, prompt_id in zip(seeds, ids):
        assert cluster.queue.state_of(prompt_id) == "success", cluster.history(prompt_id)["status"]
        assert cluster.finished[prompt_id] == ["success"]  # recorded once
        types = cluster.types(prompt_id)
        assert types[0] == "execution_start" and types[-1] == "executing" and "progress" in types
        assert types.count("execution_success") == 1
        images = cluster.history(prompt_id)["outputs"]["7"]["images"]
        assert len(images) == 1 and images[0]["subfolder"] == "cluster"
        cluster_file = Path(cluster.services.paths.output_dir) / "cluster" / images[0]["filename"]
        assert cluster_file.is_file(), "the actor's output was not written into the server's folder"

        reference = sd3_env.run(sd3_prompt(seed))  # single-machine mode, same prompt and seed
        assert reference.status == "success"
        ref_image = reference.outputs["7"]["images"][0]
        ref_file = Path(sd3_env.services.paths.output_dir) / ref_image["subfolder"] / ref_image["filename"]
        assert images[0]["filename"] == ref_image["filename"]
        assert np.array_equal(pixels(cluster_file), pixels(ref_file)), f"seed {seed} differs"
    for worker in cluster.pool.describe():
        pids.add(worker["pid"])
        assert worker["jobs_run"] >= 1, "both actors should have taken jobs"
        assert any("plexus-demo-sd3-tiny" in m["name"] for m in worker["loaded_models"]), worker["loaded_models"]
    assert len(pids) == 2
    assert len(list((Path(cluster.services.paths.output_dir) / "cluster").glob("*.png"))) == 20


def test_killed_actor_job_is_rerun_once(make_cluster, tmp_path):
    cluster = make_cluster()
    marker = tmp_path / "finished.log"
    slow_prompt = {"1": {"class_type": "PxClusterSaveText", "inputs": {"text": "once", "filename_prefix": "killed"}},
                   "2": sleep_prompt(3.0, 30, value=7, marker=str(marker))["1"]}
    slow_prompt["2"]["inputs"]["after"] = ["1", 0]  # the file is shipped before the kill
    slow = cluster.submit(slow_prompt)
    others = [cluster.submit(sleep_prompt(0.2, 2, value=i, marker=str(marker))) for i in range(4)]
    cluster.wait_for(lambda: cluster.types(slow).count("progress") >= 4)
    worker = next(w for w in cluster.pool.workers if w.current is not None and w.current.prompt_id == slow)
    victim = worker.backend.info["pid"]
    os.kill(victim, signal.SIGKILL)  # the actor's process dies mid-job

    cluster.wait_finished([slow, *others], timeout=120)
    for prompt_id in [slow, *others]:
        assert cluster.queue.state_of(prompt_id) == "success"
        assert cluster.finished[prompt_id] == ["success"], "recorded exactly once"
    assert cluster.history(slow)["outputs"]["2"]["value"] == [7]
    [text_file] = cluster.history(slow)["outputs"]["1"]["files"]
    saved = sorted(p.name for p in Path(cluster.services.paths.output_dir).glob("killed_*"))
    assert saved == [text_file["filename"]], "the dead attempt's file is taken back; one copy is left"
    finished = marker.read_text().split()
    assert finished[0::2].count(slow) == 1, "the killed attempt must not finish; the re-run must"
    assert sorted(finished[0::2]) == sorted([slow, *others])
    assert finished[1::2][finished[0::2].index(slow)] != str(victim)

    types = cluster.types(slow)
    restart = types.index("execution_restarted")
    steps = [e.type == "progress" and e.node == "2" for e in cluster.events[slow]]
    assert 3 <= sum(steps[:restart]) < 30, "the dead attempt's progress comes first"
    assert "executed" in types[:restart], "the dead attempt had shipped its file already"
    assert types[restart + 1] == "execution_start" and sum(steps[restart + 1:]) == 30
    restarted = cluster.events[slow][restart].data()
    assert restarted["attempt"] == 2 and restarted["prompt_id"] == slow
    assert worker.backend.restarts == 1
    assert worker.backend.ready(timeout=60) and worker.backend.info["pid"] != victim, "a fresh actor replaces it"
    again = cluster.submit({"1": {"class_type": "PxClusterNotify", "inputs": {"text": "still here"}}})
    cluster.wait_finished([again])
    assert cluster.queue.state_of(again) == "success"
    messages = [e.data() for e in cluster.events[again] if e.type == "px.cluster.notify"]
    assert [m["text"] for m in messages] == ["still here"], "a pack's send_sync reaches the clients"
    assert "px.cluster.binary" not in cluster.types(again)


def test_interrupt_reaches_the_actor_running_the_job(make_cluster, tmp_path):
    cluster = make_cluster(["--cluster-outputs", "shared"])  # and: actors write the server's folders
    marker = tmp_path / "finished.log"
    busy = cluster.submit(sleep_prompt(1.0, 2, value=1))
    target = cluster.submit(sleep_prompt(20.0, 400, value=2, marker=str(marker)))
    cluster.wait_for(lambda: cluster.types(target).count("progress") >= 2)
    asked = time.monotonic()
    assert cluster.pool.interrupt(target)
    cluster.wait_finished([target], timeout=30)
    assert time.monotonic() - asked < 3.0, "it should stop at its next step"
    assert cluster.queue.state_of(target) == "interrupted"
    assert "execution_interrupted" in cluster.types(target)
    assert not marker.exists()
    cluster.wait_finished([busy])
    assert cluster.queue.state_of(busy) == "success", "the other actor's job is not interrupted"
    after = cluster.submit({"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                                  "color": 0x00FF00}},
                            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "shared"}}})
    cluster.wait_finished([after])
    assert cluster.queue.state_of(after) == "success"
    [saved] = cluster.history(after)["outputs"]["2"]["images"]
    assert pixels(Path(cluster.services.paths.output_dir) / saved["filename"])[0, 0].tolist() == [0, 255, 0]


def use_model_prompt(model: str, seed: int, seconds: float = 0.3) -> dict:
    return {"1": {"class_type": "PxClusterLoadModel", "inputs": {"model_name": model}},
            "2": {"class_type": "PxClusterUseModel", "inputs": {"model": ["1", 0], "seed": seed, "seconds": seconds}}}


def test_model_affinity_sends_jobs_to_the_actor_holding_their_model(make_cluster):
    cluster = make_cluster()
    warm = [cluster.submit(use_model_prompt("alpha", 0)), cluster.submit(use_model_prompt("beta", 1))]
    cluster.wait_finished(warm)
    ran_on = {cluster.history(p)["outputs"]["2"]["model"][0]: cluster.history(p)["outputs"]["2"]["pid"][0]
              for p in warm}
    assert ran_on["alpha"] != ran_on["beta"], "two idle actors: the second model goes to the other one"

    jobs = [(model, cluster.submit(use_model_prompt(model, seed)))
            for seed in range(2, 8) for model in ("alpha", "beta")]
    cluster.wait_finished([p for _, p in jobs], timeout=120)
    for model, prompt_id in jobs:
        outputs = cluster.history(prompt_id)["outputs"]["2"]
        assert outputs["pid"][0] == ran_on[model], f"{model} job ran away from the actor holding {model}"

    source = np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(source).save(Path(cluster.services.paths.input_dir) / "roundtrip.png")
    roundtrip = cluster.submit({"1": {"class_type": "LoadImage", "inputs": {"image": "roundtrip.png"}},
                                "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "rt"}}})
    cluster.wait_finished([roundtrip])
    [saved] = cluster.history(roundtrip)["outputs"]["2"]["images"]
    assert np.array_equal(pixels(Path(cluster.services.paths.output_dir) / saved["filename"]), source)

    workers = {w["pid"]: w for w in cluster.pool.describe()}
    for model, pid in ran_on.items():
        assert f"model_name={model}" in workers[pid]["model_keys"] and workers[pid]["missing_nodes"] == []
        assert [m["name"] for m in workers[pid]["loaded_models"]] == [f"pxtest:{model}"]
