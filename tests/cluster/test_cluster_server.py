"""The real server on the Ray cluster: /system_stats and /queue show the workers, and a server
killed mid-job leaves no orphan: its actors end with it, and the restarted server re-runs the
job once."""
from __future__ import annotations

import time

import psutil
import pytest

from tests.fixtures.cluster import CLUSTER_NODES_DIR
from tests.fixtures.server import ServerHandle, free_port

pytestmark = pytest.mark.cluster


def sleep_prompt(seconds: float, steps: int, value: int, marker: str) -> dict:
    return {"1": {"class_type": "PxClusterSleep",
                  "inputs": {"seconds": seconds, "steps": steps, "value": value, "marker": marker}}}


def start(base, address: str) -> ServerHandle:
    args = ["--cpu", "--custom-nodes-dir", str(CLUSTER_NODES_DIR), "--cluster", address]
    handle = ServerHandle(base, free_port(), args).start(timeout=90)
    handle.wait_for(lambda: all(w.get("ready") for w in handle.get_json("/system_stats")["workers"]), timeout=90)
    return handle


def test_server_killed_mid_job_leaves_no_orphan_and_reruns_it_once(ray_cluster, tmp_path):
    marker = tmp_path / "finished.log"
    base = tmp_path / "server"
    base.mkdir()
    first = start(base, ray_cluster.address)
    try:
        workers = first.get_json("/system_stats")["workers"]
        assert len(workers) == 2 and {w["gpu_ids"][0] for w in workers} == {"0", "1"}
        assert all(w["backend"] == "ray" and w["hostname"] and w["device"] for w in workers)
        # the test launcher registers server-only nodes: the actors' registries are compared and lack them
        assert all("PxTestEcho" in w["missing_nodes"] and "PxClusterSleep" not in w["missing_nodes"] for w in workers)
        answer = first.post_json("/prompt", {"prompt": sleep_prompt(4.0, 40, 5, str(marker)), "prompt_id": "orphan"})
        assert answer.status == 200, answer.body
        first.wait_for(lambda: "orphan" in first.get_json("/queue")["running_on"], timeout=30)
        running_on = first.get_json("/queue")["running_on"]["orphan"]
        assert running_on["actor"] in {w["actor"] for w in workers}
        time.sleep(0.5)
    finally:
        first.kill9()
    old_pids = [w["pid"] for w in workers]
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in old_pids):
        assert time.monotonic() < deadline, "the dead server's actors are still running"
        time.sleep(0.1)
    assert not marker.exists(), "the orphaned attempt must not finish"

    second = start(base, ray_cluster.address)
    try:
        second.wait_for(lambda: second.get_json("/history/orphan"), timeout=60)
        entry = second.get_json("/history/orphan")["orphan"]
        assert entry["status"]["completed"] and entry["outputs"]["1"]["value"] == [5]
        assert marker.read_text().split()[0::2] == ["orphan"], "re-run exactly once"
    finally:
        second.stop()
