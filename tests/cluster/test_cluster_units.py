"""The cluster's pure parts, without Ray: affinity scheduling, output shipping, input shipping,
and that single-machine mode never imports ray."""
from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from execution.cluster.files import (OutputCollector, OutputWriter, ShippedFile, place_inputs, referenced_inputs,
                                     rename_refs)
from execution.cluster.scheduler import AffinityScheduler, model_keys

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Job:
    prompt_id: str
    prompt: dict


def model_job(prompt_id: str, ckpt: str | None) -> Job:
    prompt = {"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x_name"}}}
    if ckpt:
        prompt["1"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}
    return Job(prompt_id, prompt)


def test_model_keys_come_from_loader_name_inputs():
    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
              "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "l.st", "clip_name2": "g.st", "type": "sd3"}},
              "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "model_name": "not a loader"}},
              "4": {"class_type": "VAELoader", "inputs": {"vae_name": ["5", 0]}}}
    assert model_keys(prompt) == {"ckpt_name=a.safetensors", "clip_name1=l.st", "clip_name2=g.st"}


def test_free_holder_takes_its_model_and_busy_holder_gets_deferred_jobs():
    scheduler = AffinityScheduler()
    for slot in ("A", "B"):
        scheduler.register(slot, device_key=slot)
    scheduler.finished("A", {"ckpt_name=x"}, keep_models=True)
    scheduler.finished("B", {"ckpt_name=y"}, keep_models=True)
    pending = [model_job("y1", "y"), model_job("x1", "x")]
    scheduler.choose("B", [])  # B polled: it is free
    assert scheduler.choose("A", pending).prompt_id == "x1"  # y1 is left to B, which holds y
    assert scheduler.choose("B", pending).prompt_id == "y1"
    scheduler.finished("A", {"ckpt_name=x"}, keep_models=True)
    # B is busy with y1; A prefers its own model over a job B will take...
    assert scheduler.choose("A", [model_job("y2", "y"), model_job("x2", "x")]).prompt_id == "x2"
    scheduler.finished("A", {"ckpt_name=x"}, keep_models=True)
    # ...but never idles while work waits: with only y jobs left, A takes one
    assert scheduler.choose("A", [model_job("y3", "y")]).prompt_id == "y3"


def test_unknown_models_go_to_the_least_busy_device():
    scheduler = AffinityScheduler()
    scheduler.register("gpu0.0", device_key="node:0")
    scheduler.register("gpu0.1", device_key="node:0")
    scheduler.register("gpu1.0", device_key="node:1")
    for slot in ("gpu0.0", "gpu0.1", "gpu1.0"):
        scheduler.choose(slot, [])
    first = scheduler.choose("gpu0.0", [model_job("j1", None)])
    assert first.prompt_id == "j1"
    # gpu0 is running j1: j2 belongs on the other GPU, not on gpu0's second worker
    assert scheduler.choose("gpu0.1", [model_job("j2", None)]) is None
    assert scheduler.choose("gpu1.0", [model_job("j2", None)]).prompt_id == "j2"
    assert scheduler.choose("gpu0.1", [model_job("j3", None)]).prompt_id == "j3"


def test_lost_worker_forgets_its_models_and_stale_workers_are_not_waited_for(monkeypatch):
    import execution.cluster.scheduler as module

    scheduler = AffinityScheduler()
    scheduler.register("A")
    scheduler.register("B")
    scheduler.finished("B", {"ckpt_name=y"}, keep_models=True)
    scheduler.choose("B", [])
    monkeypatch.setattr(module, "FRESH_SECONDS", 0.0)  # B has not polled "recently"
    assert scheduler.choose("A", [model_job("y1", "y")]).prompt_id == "y1"  # deferred to busy-or-gone B, then taken
    scheduler.lost("B")
    assert scheduler.models_of("B") == set()


def test_collector_ships_ui_files_once_and_leftovers(tmp_path):
    roots = {kind: tmp_path / "actor" / kind for kind in ("output", "temp", "input")}
    for root in roots.values():
        root.mkdir(parents=True)
    collector = OutputCollector(roots)
    (roots["output"] / "old.png").write_bytes(b"old")
    collector.reset()
    assert not (roots["output"] / "old.png").exists()
    (roots["output"] / "sub").mkdir()
    (roots["output"] / "sub" / "a_00001_.png").write_bytes(b"A")
    (roots["temp"] / "p.png").write_bytes(b"P")
    (roots["output"] / "notes.txt").write_bytes(b"N")
    ui = {"images": [{"filename": "a_00001_.png", "subfolder": "sub", "type": "output"},
                     {"filename": "p.png", "subfolder": "", "type": "temp"},
                     {"filename": "x.png", "subfolder": "", "type": "input"},
                     {"filename": "../../escape", "subfolder": "", "type": "output"}]}
    shipped = collector.for_ui(ui)
    assert {(f.kind, f.subfolder, f.filename, f.data) for f in shipped} == {
        ("output", "sub", "a_00001_.png", b"A"), ("temp", "", "p.png", b"P")}
    assert collector.for_ui(ui) == []
    assert [(f.filename, f.data) for f in collector.leftovers()] == [("notes.txt", b"N")]


def test_writer_keeps_names_and_bumps_the_counter_on_collision_atomically(tmp_path):
    roots = {"output": tmp_path / "out", "temp": tmp_path / "temp"}
    writer = OutputWriter(roots)
    (roots["output"] / "sub").mkdir(parents=True)
    (roots["output"] / "sub" / "img_00001_.png").write_bytes(b"existing")
    (roots["output"] / "sub" / "img_00004_.png").write_bytes(b"existing")
    renamed = writer.write([ShippedFile("output", "sub", "img_00001_.png", b"new"),
                            ShippedFile("output", "", "fresh_00001_.png", b"f"),
                            ShippedFile("output", "../..", "evil.png", b"x"),
                            ShippedFile("temp", "", "notes.txt", b"t")])
    assert renamed == {("output", "sub", "img_00001_.png"): "img_00005_.png"}
    assert (roots["output"] / "sub" / "img_00001_.png").read_bytes() == b"existing"
    assert (roots["output"] / "sub" / "img_00005_.png").read_bytes() == b"new"
    assert (roots["output"] / "fresh_00001_.png").read_bytes() == b"f"
    assert not (tmp_path / "evil.png").exists()
    assert writer.write([ShippedFile("temp", "", "notes.txt", b"u")]) == {("temp", "", "notes.txt"): "notes (2).txt"}
    assert not [p for p in tmp_path.rglob("*.partial")]
    ui = {"images": [{"filename": "img_00001_.png", "subfolder": "sub", "type": "output"}]}
    rename_refs(ui, renamed)
    assert ui["images"][0]["filename"] == "img_00005_.png"


def test_concurrent_writers_never_overwrite_each_other(tmp_path):
    writer = OutputWriter({"output": tmp_path})
    results: list[dict] = []

    def ship(index: int) -> None:
        results.append(writer.write([ShippedFile("output", "", "same_00001_.png", str(index).encode())]))

    threads = [threading.Thread(target=ship, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = sorted(tmp_path.glob("same_*.png"))
    assert len(files) == 8
    assert sorted(f.read_bytes() for f in files) == sorted(str(i).encode() for i in range(8))


def test_inputs_named_by_the_prompt_travel_to_the_actor(tmp_path):
    server = {"input": tmp_path / "in", "output": tmp_path / "out", "temp": tmp_path / "tmp"}
    for root in server.values():
        root.mkdir()
    (server["input"] / "cat.png").write_bytes(b"cat")
    (server["output"] / "prev.png").write_bytes(b"prev")
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "cat.png"}},
              "2": {"class_type": "LoadImage", "inputs": {"image": "prev.png [output]"}},
              "3": {"class_type": "X", "inputs": {"text": "../../etc/passwd", "other": ["1", 0]}}}
    files = referenced_inputs(prompt, server)
    assert {(f.kind, f.filename, f.data) for f in files} == {("input", "cat.png", b"cat"),
                                                             ("output", "prev.png", b"prev")}
    actor = {kind: tmp_path / "actor" / kind for kind in ("input", "output", "temp")}
    place_inputs(files, actor)
    assert (actor["input"] / "cat.png").read_bytes() == b"cat"


def test_single_machine_mode_never_imports_ray():
    code = ("import sys, main, web.server, execution.jobs.worker, execution.cluster.files, execution.cluster.scheduler;"
            "assert 'ray' not in sys.modules, 'ray imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
