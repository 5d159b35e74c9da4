"""The server end to end, measured on a real ``main.py serve`` subprocess with its durable queue on.

Prints absolute figures, wall time and the server's CPU time per unit of work (the figure that
depends least on a busy machine's neighbours); nothing is divided by a number measured elsewhere.
- launch -> first ``/object_info``, and launch -> first image prompt finished (EmptyImage ->
  PreviewImage, posted as soon as ``/object_info`` answers);
- trivial prompts back to back (one at a time, each waited for over the websocket): a no-I/O
  output node (``BenchEcho``) and EmptyImage -> PreviewImage;
- draining a full queue of no-I/O prompts;
- ``POST /prompt`` answered -> ``execution_start``;
- the floors (``bench/http_floor.py``): the same POSTs answered by a bare aiohttp app, by one that
  also hands each prompt to a worker thread and sends one websocket message back (the shape of the
  server with none of its work), and by one that also inserts and finishes each prompt's row in a
  SQLite file (the durable queue's two commits), measured in the same run;
- ``import torch`` alone in a fresh interpreter, which the first image prompt after launch waits for.
Targets (issue 23): server CPU per trivial prompt <= 0.4 ms; >= 2,000/s back to back; drain
>= 2,500/s; first image <= 1 s after ``/object_info``.

Run: python bench/server.py [--prompts 500] [--rounds 5] [--launches 5] [--scratch DIR]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live_server import Client, LiveServer, echo_prompt, image_prompt, process_cpu_seconds  # noqa: E402


def timed_rounds(server: LiveServer, rounds: int, count: int, run_round) -> tuple[list[float], float]:
    """(prompts/s of each round, server CPU ms per prompt over all rounds)."""
    cpu_before = server.cpu_seconds()
    rates = []
    for round_index in range(rounds):
        started = time.perf_counter()
        run_round(round_index)
        rates.append(count / (time.perf_counter() - started))
    return rates, (server.cpu_seconds() - cpu_before) * 1000 / (rounds * count)


def launches(count: int, scratch: str | None) -> dict[str, list[float]]:
    """Per launch, seconds: launch -> /object_info (wall; and the main thread's CPU, the start-up's
    critical path), /object_info -> first image finished (wall; and the server's CPU meanwhile)."""
    found: dict[str, list[float]] = {"ready": [], "ready_cpu": [], "first": [], "first_cpu": []}
    for index in range(count):
        with tempfile.TemporaryDirectory(dir=scratch) as base:
            server = LiveServer(Path(base))
            try:
                found["ready"].append(server.wait_ready())
                answered, cpu = time.perf_counter(), server.cpu_seconds()
                found["ready_cpu"].append(process_cpu_seconds(server.proc.pid, server.proc.pid))
                client = Client(server.port, f"launch{index}")
                client.run(image_prompt(index), f"first-{index}")
                found["first"].append(time.perf_counter() - answered)
                found["first_cpu"].append(server.cpu_seconds() - cpu)
                client.close()
            finally:
                server.stop()
    return found


def floor_app(kind: str, rounds: int, count: int) -> tuple[list[float], float]:
    """The same prompts sent to a floor app of ``bench/http_floor.py`` (``bare``: POSTs only;
    ``worker`` and ``durable``: each waited for over the websocket, as the real server's are): prompts/s
    of each round, and the app's CPU ms per prompt."""
    app = LiveServer(None, command=["bench/http_floor.py", "{port}", kind])
    try:
        app.wait_ready(30)
        client = Client(app.port, "floor") if kind != "bare" else None
        connection = http.client.HTTPConnection("127.0.0.1", app.port)

        def send(round_index: int) -> None:
            for i in range(count):
                prompt_id = f"f{round_index}-{i}"
                if client is not None:
                    client.run(echo_prompt(i), prompt_id)
                    continue
                body = json.dumps({"prompt": echo_prompt(i), "client_id": "floor", "prompt_id": prompt_id})
                connection.request("POST", "/prompt", body, {"Content-Type": "application/json"})
                connection.getresponse().read()

        send(-1)  # warm-up
        measured = timed_rounds(app, rounds, count, send)
        connection.close()
        if client is not None:
            client.close()
        return measured
    finally:
        app.stop()


def torch_import_seconds(count: int) -> list[float]:
    """Wall seconds of ``import torch`` in fresh interpreters (the first image's floor)."""
    script = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    return [float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(count)]


def line(label: str, rates: list[float], cpu_ms: float) -> str:
    return (f"{label:<40} best {max(rates):7.0f}/s, median {statistics.median(rates):7.0f}/s | "
            f"server CPU {cpu_ms:.3f} ms/prompt")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--scratch", default=None, help="folder for the servers' base directories "
                        "(default: the system temp folder; file creation costs differ between file systems)")
    args = parser.parse_args()
    count = args.prompts
    client_cpu = time.process_time()
    with tempfile.TemporaryDirectory(dir=args.scratch) as base:
        print(f"server base directories under {Path(base).parent}")
        server = LiveServer(Path(base), "--history-max", "100000")
        server.wait_ready()
        client = Client(server.port)
        try:
            for index in range(50):  # warm-up: imports, caches, SQLite pages
                client.run(image_prompt(index), f"warm-{index}")
                client.run(echo_prompt(index), f"warm-echo-{index}")
            echo_rates, echo_cpu = timed_rounds(server, args.rounds, count, lambda r: [
                client.run(echo_prompt(i), f"echo{r}-{i}") for i in range(count)])
            image_rates, image_cpu = timed_rounds(server, args.rounds, count, lambda r: [
                client.run(image_prompt(i), f"img{r}-{i}") for i in range(count)])

            def drain(round_index: int) -> None:
                for i in range(count):
                    client.post(echo_prompt(i), f"drain{round_index}-{i}")
                client.wait_for("executing", f"drain{round_index}-{count - 1}", node_null=True)

            drain_rates, drain_cpu = timed_rounds(server, args.rounds, count, drain)
            latencies = []
            for i in range(max(50, count // 2)):
                sent = time.perf_counter()
                client.post(echo_prompt(i), f"lat-{i}")
                latencies.append((client.wait_for("execution_start", f"lat-{i}") - sent) * 1000)
                client.wait_for("executing", f"lat-{i}", node_null=True)
        finally:
            client.close()
            server.stop()
    floors = {kind: floor_app(kind, args.rounds, count) for kind in ("bare", "worker", "durable")}
    launched = launches(args.launches, args.scratch)
    torch_imports = torch_import_seconds(args.launches)
    client_cpu = time.process_time() - client_cpu

    print(line("no-I/O prompts back to back", echo_rates, echo_cpu))
    print(line("EmptyImage -> PreviewImage back to back", image_rates, image_cpu))
    print(line(f"draining {count} queued no-I/O prompts", drain_rates, drain_cpu))
    print(line("floor: bare aiohttp, the same POSTs", *floors["bare"]))
    print(line("floor: aiohttp + worker + 1 ws message", *floors["worker"]))
    print(line("floor: same + INSERT and UPDATE (SQLite)", *floors["durable"]))
    ordered = sorted(latencies)
    print(f"{'POST answered -> execution_start':<40} median {statistics.median(ordered):.2f} ms, "
          f"min {ordered[0]:.2f} ms, p90 {ordered[int(len(ordered) * 0.9)]:.2f} ms")
    for label, wall, cpu, whose in (("launch -> first /object_info", "ready", "ready_cpu", "main thread"),
                                    ("/object_info -> first image finished", "first", "first_cpu", "server")):
        print(f"{label:<40} best {min(launched[wall]):.2f} s, median {statistics.median(launched[wall]):.2f} s | "
              f"{whose} CPU best {min(launched[cpu]):.2f} s, median {statistics.median(launched[cpu]):.2f} s")
    print(f"{'import torch alone, fresh interpreter':<40} best {min(torch_imports):.2f} s, "
          f"median {statistics.median(torch_imports):.2f} s")
    print(f"(client process CPU for the whole run: {client_cpu:.1f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
