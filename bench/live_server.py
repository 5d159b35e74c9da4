"""A real Plexus server for the benchmarks: ``main.py serve`` in a subprocess (with the bench pack's
``BenchEcho`` node), an HTTP keep-alive connection and a websocket client. Only requirements.txt
packages are used (``websockets``' synchronous client), no test code."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_PACKS = Path(__file__).resolve().parent / "packs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of another process, or of one of its threads (Linux /proc)."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread is not None else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, interval: float = 0.25, busy_share: float = 0.04, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` uses under ``busy_share`` of a core over ``interval`` seconds (a
    fresh server imports its heavy frameworks in the background after it starts answering)."""
    deadline = time.monotonic() + timeout
    before = process_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = process_cpu_seconds(pid)
        if now - before < busy_share * interval:
            return
        before = now


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class LiveServer:
    """``main.py serve`` on a free port; or, with ``command``, another script of this repository
    answering ``/object_info`` (``"{port}"`` in its arguments is replaced by the port)."""

    def __init__(self, base_dir: Path | None, *flags: str, command: list[str] | None = None) -> None:
        self.port = free_port()
        self.started = time.perf_counter()
        argv = [part.format(port=self.port) for part in command] if command else \
            ["main.py", "serve", "--port", str(self.port), "--base-directory", str(base_dir),
             "--custom-nodes-dir", str(BENCH_PACKS), *flags]
        self.proc = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from launch until ``/object_info`` answers."""
        while time.perf_counter() - self.started < timeout:
            try:
                if get(self.port, "/object_info")[0] == 200:
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.005)
        raise RuntimeError("the server did not start")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Client:
    """One HTTP keep-alive connection and one websocket, as ComfyUI's API examples use them."""

    def __init__(self, port: int, client_id: str = "bench") -> None:
        from websockets.sync.client import connect

        self.http = http.client.HTTPConnection("127.0.0.1", port)
        self.ws = connect(f"ws://127.0.0.1:{port}/ws?clientId={client_id}", max_size=None, compression=None)
        self.ws.recv()  # the first status
        self.client_id = client_id

    def post(self, prompt: dict, prompt_id: str) -> None:
        body = json.dumps({"prompt": prompt, "client_id": self.client_id, "prompt_id": prompt_id})
        self.http.request("POST", "/prompt", body, {"Content-Type": "application/json"})
        response = self.http.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /prompt: {response.status} {payload[:300]!r}")

    def wait_for(self, kind: str, prompt_id: str, node_null: bool = False, timeout: float = 60.0) -> float:
        """``perf_counter()`` when the event arrives; ``executing`` with ``node_null`` = the end.
        Raises TimeoutError when the server sends nothing for ``timeout`` seconds."""
        while True:
            raw = self.ws.recv(timeout)
            if isinstance(raw, bytes):
                continue
            message: dict[str, Any] = json.loads(raw)
            data = message.get("data", {})
            if message["type"] == "execution_error" and data.get("prompt_id") == prompt_id:
                raise RuntimeError(f"prompt failed: {data.get('exception_message')}")
            if message["type"] == kind and data.get("prompt_id") == prompt_id:
                if not node_null or data.get("node") is None:
                    return time.perf_counter()

    def run(self, prompt: dict, prompt_id: str) -> None:
        self.post(prompt, prompt_id)
        self.wait_for("executing", prompt_id, node_null=True)

    def close(self) -> None:
        self.ws.close()
        self.http.close()


def echo_prompt(value: int) -> dict:
    return {"1": {"class_type": "BenchEcho", "inputs": {"value": value}}}


def image_prompt(value: int, size: int = 64) -> dict:
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                         "color": value % 0xFFFFFF}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}


def wide_prompt(outputs: int, size: int = 64) -> dict:
    """``outputs`` independent EmptyImage -> PreviewImage pairs."""
    prompt = {}
    for index in range(outputs):
        prompt[f"e{index}"] = {"class_type": "EmptyImage", "inputs": {"width": size, "height": size,
                                                                       "batch_size": 1, "color": index}}
        prompt[f"p{index}"] = {"class_type": "PreviewImage", "inputs": {"images": [f"e{index}", 0]}}
    return prompt
