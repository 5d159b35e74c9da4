"""``kill -9`` of a real server mid-run, then a restart; and the start-up time."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.fixtures.server import ROOT, echo_prompt, free_port, slow_prompt, start_server


def fill_and_kill(base_dir, *flags):
    """History h0,h1; job 'r' running; p0..p4 pending (p4 submitted with front=True). Then kill -9."""
    server = start_server(base_dir, *flags)
    for index in range(2):
        server.post_json("/prompt", {"prompt": echo_prompt(100 + index), "prompt_id": f"h{index}"})
    server.wait_idle()
    server.post_json("/prompt", {"prompt": slow_prompt(60, 600, tag="r"), "prompt_id": "r"})
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])
    for index in range(4):
        server.post_json("/prompt", {"prompt": echo_prompt(index), "prompt_id": f"p{index}"})
    server.post_json("/prompt", {"prompt": echo_prompt(4), "prompt_id": "p4", "front": True})
    before = server.get_json("/queue")
    assert [i[1] for i in before["queue_pending"]] == ["p4", "p0", "p1", "p2", "p3"]
    server.kill9()
    return server, before


def check_restarted(server, before, running_expected):
    queue = server.get_json("/queue")
    assert [i[1] for i in queue["queue_running"]] == running_expected
    assert queue["queue_pending"] == before["queue_pending"]  # same items, same order, same numbers
    history = server.get_json("/history")
    assert history["h0"]["outputs"] == {"1": {"value": [100]}} and history["h1"]["status"]["completed"]


@pytest.mark.slow
def test_kill9_requeue_keeps_everything_in_order(tmp_path):
    server, before = fill_and_kill(tmp_path / "srv", "--on-crash", "requeue")
    restarted = start_server(tmp_path / "srv", "--on-crash", "requeue", port=free_port())
    try:
        restarted.wait_for(lambda: restarted.get_json("/queue")["queue_running"])
        check_restarted(restarted, before, ["r"])  # the running job is back, first in line
        restarted.post_json("/interrupt", {"prompt_id": "r"})
        restarted.wait_idle()
        history = restarted.get_json("/history")
        assert list(history) == ["h0", "h1", "r", "p4", "p0", "p1", "p2", "p3"]  # once each, in order
        assert history["p4"]["outputs"] == {"1": {"value": [4]}}
        jobs = restarted.get_json("/jobs?limit=100")["jobs"]
        assert sorted(j["id"] for j in jobs) == sorted(history)  # nothing duplicated
    finally:
        restarted.stop()


@pytest.mark.slow
def test_kill9_fail_marks_running_job_interrupted(tmp_path):
    server, before = fill_and_kill(tmp_path / "srv", "--on-crash", "fail")
    restarted = start_server(tmp_path / "srv", "--on-crash", "fail", port=free_port())
    try:
        restarted.wait_idle()
        history = restarted.get_json("/history")
        assert list(history) == ["h0", "h1", "r", "p4", "p0", "p1", "p2", "p3"]
        crashed = history["r"]["status"]
        assert crashed["completed"] is False and crashed["status_str"] == "error"
        kind, data = crashed["messages"][-1]
        assert kind == "execution_interrupted" and "server stopped" in data["reason"]
        assert "marked interrupted" in restarted.log()
    finally:
        restarted.stop()


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_startup_answers_object_info_fast_without_torch(tmp_path):
    """``python main.py serve``: the first /object_info within 1.5 s, and torch not loaded.

    Best of three launches. When the machine is oversubscribed (load average above the core
    count, as on a shared CI box), wall time measures the neighbours, so the server's own CPU
    time to its first answer must then stay under 1.5 s instead.
    """
    best = None
    best_cpu = None
    for attempt in range(3):
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port), "--base-directory",
                                 str(tmp_path / f"b{attempt}"), "--preload", "none"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import http.client

            answered = None
            while time.perf_counter() - started < 20:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    connection.request("GET", "/object_info")
                    response = connection.getresponse()
                    body = response.read()
                    if response.status == 200 and b"SaveImage" in body:
                        answered = time.perf_counter() - started
                        break
                except OSError:
                    time.sleep(0.01)
            assert answered is not None, "server never answered"
            for path in ("/system_stats", "/api/free", "/queue", "/"):  # none of these may load torch
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("POST" if "free" in path else "GET", path)
                assert connection.getresponse().status == 200
            maps = open(f"/proc/{proc.pid}/maps").read()
            assert "libtorch" not in maps, "torch was imported on the start path"
            cpu = _cpu_seconds(proc.pid)
            best = answered if best is None else min(best, answered)
            best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        finally:
            proc.terminate()
            proc.wait(10)
    overloaded = os.getloadavg()[0] > (os.cpu_count() or 1)
    if best >= 1.5 and overloaded:
        assert best_cpu < 1.5, f"start path used {best_cpu:.2f}s of CPU (wall {best:.2f}s)"
    else:
        assert best < 1.5, f"first /object_info after {best:.2f}s (CPU {best_cpu:.2f}s)"


def test_default_preload_imports_torch_after_start_up(tmp_path):
    """By default the server answers /object_info first, then imports torch in the background, so
    the first image prompt does not wait for it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port), "--base-directory",
                             str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "[plexus] preloaded" in line:
                break
        assert any("Listening on" in line for line in lines[:-1]), lines  # listening came first
        assert "torch" in lines[-1]
        assert "libtorch" in open(f"/proc/{proc.pid}/maps").read()
    finally:
        proc.terminate()
        proc.wait(10)


def test_history_max_flag(server_factory):
    server = server_factory("--history-max", "3")
    for index in range(5):
        server.post_json("/prompt", {"prompt": echo_prompt(index), "prompt_id": f"cap{index}"})
    server.wait_idle()
    assert list(server.get_json("/history")) == ["cap2", "cap3", "cap4"]


def test_second_server_on_the_same_queue_is_refused(server_factory, tmp_path):
    first = server_factory(base_dir=tmp_path / "shared")
    second = subprocess.run([sys.executable, "main.py", "serve", "--port", str(free_port()), "--base-directory",
                             str(tmp_path / "shared")], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1 and "another server is already using" in second.stderr
    assert first.get_json("/prompt")["exec_info"]["queue_remaining"] == 0  # the first one is untouched


def test_graceful_stop_requeues_the_running_job(tmp_path):
    server = start_server(tmp_path / "srv")
    server.post_json("/prompt", {"prompt": slow_prompt(60, 600, tag="g"), "prompt_id": "g"})
    server.wait_for(lambda: server.get_json("/queue")["queue_running"])
    server.post_json("/prompt", {"prompt": echo_prompt(1), "prompt_id": "g-next"})
    server.stop()  # SIGTERM
    assert server.proc.returncode == 0
    restarted = start_server(tmp_path / "srv", port=free_port())
    try:
        restarted.wait_for(lambda: restarted.get_json("/queue")["queue_running"])
        queue = restarted.get_json("/queue")
        assert [i[1] for i in queue["queue_running"]] == ["g"]
        assert [i[1] for i in queue["queue_pending"]] == ["g-next"]
        assert restarted.get_json("/history") == {}
    finally:
        restarted.stop()


def test_queue_database_lives_in_the_user_directory(server_factory, tmp_path):
    server = server_factory("--user-directory", str(tmp_path / "elsewhere"))
    server.post_json("/prompt", {"prompt": echo_prompt(1), "prompt_id": "where"})
    server.wait_idle()
    assert (tmp_path / "elsewhere" / "plexus_queue.sqlite3").is_file()
    assert not (server.base_dir / "user" / "plexus_queue.sqlite3").exists()


@pytest.mark.slow
def test_kill9_during_a_save_burst_leaves_disk_and_history_in_agreement(tmp_path):
    """Issue 18, point 13: killed (``kill -9``) while a batch is half saved, then restarted: every
    PNG in output/ is one that history lists, every listed one exists, no temporary file is left."""
    base = tmp_path / "burst"
    server = start_server(base)
    batch, jobs = 8, 3
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 1024, "height": 1024, "batch_size": batch,
                                                           "color": 0}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "burst"}}}
    for index in range(jobs):
        prompt["1"]["inputs"]["color"] = index  # a new image each time (no cache hit)
        server.post_json("/prompt", {"prompt": prompt, "prompt_id": f"b{index}"})
    output = base / "output"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill in the middle of a batch
        saved = [p for p in output.iterdir() if p.name.startswith("burst")]
        if saved and len(saved) % batch:
            break
        time.sleep(0.002)
    server.kill9()
    restarted = start_server(base, port=free_port())
    try:
        restarted.wait_idle(timeout=120)
        history = restarted.get_json("/history")
        listed = {image["filename"] for entry in history.values() for image in entry["outputs"]["2"]["images"]}
        on_disk = {p.name for p in output.iterdir()}
        assert on_disk == listed and len(listed) == jobs * batch
        assert "unrecorded output" in restarted.log()  # the half-saved batch's files were removed
    finally:
        restarted.stop()
