"""Server end to end: trivial prompts over HTTP+WS, POST-to-start latency, start-up time.

Measures a real server subprocess (``tests.fixtures.server``: main.py's wiring plus a trivial
output node ``PxTestEcho``) with a keep-alive HTTP connection and a ``websocket-client`` socket
(``skip_utf8_validation=True``), and prints ratios against ComfyUI 0.3.64 measured on this kind of
machine (shared/docs/anchors.md): 294 prompts/s back-to-back, 636/s draining a full queue,
3.5-5.3 ms from POST /prompt to ``execution_start``, 10.6 s from launch to the first
``/object_info``. The server's CPU time per prompt is printed too: on a busy shared machine it is
the figure that does not depend on the neighbours. Targets: >= 2x its throughput (>= 200/s at
the least), latency <= 2 ms (< 10 ms at the least), start-up < 1.5 s. Min/median of N after a warm-up.

Run: python bench/server.py [--prompts 500] [--launches 5]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.server import free_port, start_server  # noqa: E402

COMFY_PROMPTS_PER_S = 294.0
COMFY_DRAIN_PER_S = 636.0
COMFY_LATENCY_MS = (3.5, 5.3)
COMFY_STARTUP_S = 10.6


class Client:
    def __init__(self, port: int, client_id: str) -> None:
        import websocket

        self.http = http.client.HTTPConnection("127.0.0.1", port)
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws?clientId={client_id}",
                                              skip_utf8_validation=True)
        self.ws.recv()  # the first status
        self.client_id = client_id

    def post(self, prompt_id: str, value: int) -> None:
        body = json.dumps({"prompt": {"1": {"class_type": "PxTestEcho", "inputs": {"value": value}}},
                           "client_id": self.client_id, "prompt_id": prompt_id})
        self.http.request("POST", "/prompt", body, {"Content-Type": "application/json"})
        response = self.http.getresponse()
        response.read()
        assert response.status == 200

    def wait_for(self, kind: str, prompt_id: str, node_null: bool = False) -> float:
        while True:
            raw = self.ws.recv()
            if isinstance(raw, bytes):
                continue
            message = json.loads(raw)
            data = message.get("data", {})
            if message["type"] == kind and data.get("prompt_id") == prompt_id:
                if not node_null or data.get("node") is None:
                    return time.perf_counter()

    def close(self) -> None:
        self.ws.close()
        self.http.close()


def back_to_back(client: Client, count: int, tag: str) -> float:
    started = time.perf_counter()
    for index in range(count):
        prompt_id = f"{tag}-{index}"
        client.post(prompt_id, index)
        client.wait_for("executing", prompt_id, node_null=True)
    return count / (time.perf_counter() - started)


def drain(client: Client, count: int, tag: str) -> float:
    started = time.perf_counter()
    for index in range(count):
        client.post(f"{tag}-{index}", index)
    client.wait_for("executing", f"{tag}-{count - 1}", node_null=True)
    return count / (time.perf_counter() - started)


def latencies(client: Client, count: int, tag: str) -> list[float]:
    values = []
    for index in range(count):
        prompt_id = f"{tag}-{index}"
        sent = time.perf_counter()
        client.post(prompt_id, index)
        values.append((client.wait_for("execution_start", prompt_id) - sent) * 1000)
        client.wait_for("executing", prompt_id, node_null=True)
    return values


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def startup_times(launches: int) -> list[float]:
    times = []
    for _ in range(launches):
        with tempfile.TemporaryDirectory() as base:
            port = free_port()
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", str(port),
                                     "--base-directory", base], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while True:
                    try:
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                        connection.request("GET", "/object_info")
                        response = connection.getresponse()
                        response.read()
                        if response.status == 200:
                            times.append(time.perf_counter() - started)
                            break
                    except OSError:
                        time.sleep(0.005)
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("server did not start")
            finally:
                proc.terminate()
                proc.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--launches", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as base:
        server = start_server(Path(base), "--history-max", "100000")
        client = Client(server.port, "bench")
        try:
            back_to_back(client, 50, "warm")
            cpu_before = process_cpu_seconds(server.proc.pid)
            rates = [back_to_back(client, args.prompts, f"b2b{r}") for r in range(args.rounds)]
            cpu_ms = (process_cpu_seconds(server.proc.pid) - cpu_before) * 1000 / (args.prompts * args.rounds)
            drains = [drain(client, args.prompts, f"drain{r}") for r in range(args.rounds)]
            lat = latencies(client, max(50, args.prompts // 2), "lat")
        finally:
            client.close()
            server.stop()
    starts = startup_times(args.launches)

    best_rate, best_drain = max(rates), max(drains)
    median_latency = statistics.median(lat)
    print(f"trivial prompts back-to-back (HTTP+WS): best {best_rate:.0f}/s, median {statistics.median(rates):.0f}/s"
          f"  -> {best_rate / COMFY_PROMPTS_PER_S:.2f}x ComfyUI ({COMFY_PROMPTS_PER_S:.0f}/s); target >= 2x")
    print(f"server CPU per trivial prompt:        {cpu_ms:.2f} ms (load-independent; one core's worth is "
          f"{1000 / cpu_ms:.0f} prompts/s -> {1000 / cpu_ms / COMFY_PROMPTS_PER_S:.2f}x ComfyUI)")
    print(f"draining a full queue:                best {best_drain:.0f}/s"
          f"  -> {best_drain / COMFY_DRAIN_PER_S:.2f}x ComfyUI ({COMFY_DRAIN_PER_S:.0f}/s)")
    print(f"POST /prompt -> execution_start:      median {median_latency:.2f} ms, min {min(lat):.2f} ms,"
          f" p90 {sorted(lat)[int(len(lat) * 0.9)]:.2f} ms  -> ComfyUI {COMFY_LATENCY_MS[0]}-{COMFY_LATENCY_MS[1]} ms"
          f" is {COMFY_LATENCY_MS[0] / median_latency:.1f}-{COMFY_LATENCY_MS[1] / median_latency:.1f}x slower;"
          f" target <= 2 ms")
    print(f"launch -> first /object_info:         best {min(starts):.2f} s, median {statistics.median(starts):.2f} s"
          f"  -> ComfyUI {COMFY_STARTUP_S} s is {COMFY_STARTUP_S / min(starts):.1f}x slower; target < 1.5 s")


if __name__ == "__main__":
    main()
