"""Editor quality bar in headless Chromium against a real server.

- A 200-node workflow (40 linked SD3 chains with text overlays) is opened and panned at two zoom
  levels (0.8, and 0.5, the farthest zoom still drawn in full quality). Target: no frame over
  50 ms, i.e. every canvas draw under 50 ms. Reported: open time, draw max / p95 / median per pass,
  the requestAnimationFrame interval max, and the median ratio against a 10-node reference graph
  panned the same way in the same page.
- /object_info with ~300 node types (the built-ins plus a generated custom-node pack), fetched by
  the page and registered and listed in the palette, plus 300 more copies registered. Target:
  fetch + registration under 300 ms.

Beside the wall times: the server's CPU time per /object_info request, and the page's CPU time
(Chromium's main-thread task time) to open the 200 nodes and per panned frame. The machine these
run on may be shared; the best of --repeat passes is the editor's own cost.
Run: python bench/editor.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.browser import (  # noqa: E402
    BUILD_CHAINS_JS, CHROMIUM, CHROMIUM_ARGS, MEASURE_PAN_JS, OBJECT_INFO_PROBE_JS, VIEWPORT)
from bench.live_server import free_port, process_cpu_seconds, wait_until_idle  # noqa: E402

FRAME_TARGET_MS = 50.0
OBJECT_INFO_TARGET_MS = 300.0


MANY_NODES_PACK = '''
def _make(index):
    class Node:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"value": ("INT", {"default": index, "min": 0, "max": 10**6}),
                                 "scale": ("FLOAT", {"default": 1.0, "step": 0.01}), "label": ("STRING", {"default": ""}),
                                 "mode": (["a", "b", "c"],), "image": ("IMAGE",)},
                    "optional": {"mask": ("MASK",)}}
        RETURN_TYPES = ("IMAGE", "INT")
        FUNCTION = "run"
        CATEGORY = f"bench/group{index % 12}"
        DESCRIPTION = f"Bench node number {index}."

        def run(self, **kwargs):
            return (kwargs["image"], kwargs["value"])
    return Node


NODE_CLASS_MAPPINGS = {f"BenchNode{i:03d}": _make(i) for i in range(NODE_COUNT)}
'''


def write_many_nodes_pack(base_dir: Path, server_types_now: int, wanted: int = 300) -> None:
    """A custom-node pack that brings the server to about `wanted` node types."""
    pack = base_dir / "custom_nodes" / "bench_many_nodes"
    pack.mkdir(parents=True, exist_ok=True)
    count = max(0, wanted - server_types_now)
    (pack / "__init__.py").write_text(f"NODE_COUNT = {count}\n" + MANY_NODES_PACK)


def server_object_info_ms(url: str, pid: int, repeat: int = 5) -> tuple[float, float, int]:
    """Best wall time (ms) of GET /object_info from Python (server side + transfer), the server's mean
    CPU time per request (ms) and the type count."""
    best, count = float("inf"), 0
    cpu = process_cpu_seconds(pid)
    for _ in range(repeat):
        started = time.perf_counter()
        count = len(json.loads(urllib.request.urlopen(url + "/object_info", timeout=10).read()))
        best = min(best, (time.perf_counter() - started) * 1000)
    return best, (process_cpu_seconds(pid) - cpu) * 1000 / repeat, count


def page_busy_ms(cdp) -> float:
    """Milliseconds the page's main thread has spent running its own tasks so far (script, style,
    layout, paint): Chromium's ``TaskDuration`` less ``DevToolsCommandDuration`` (this bench's own
    commands, such as passing the workflow in). The page's CPU time."""
    metrics = {metric["name"]: metric["value"] for metric in cdp.send("Performance.getMetrics")["metrics"]}
    return 1000 * (metrics["TaskDuration"] - metrics.get("DevToolsCommandDuration", 0.0))


def start_server(base_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "main.py", "--base-directory", str(base_dir), "serve", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/object_info", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def pan(page, cdp, chains: int, scales=(0.8, 0.5), frames: int = 60) -> dict:
    page.evaluate("async (w) => { await app.loadGraphData(w); }", page.evaluate(BUILD_CHAINS_JS, chains))
    draws, intervals = [], []
    busy = page_busy_ms(cdp)
    for scale in scales:
        result = page.evaluate(MEASURE_PAN_JS, [frames, scale])
        draws += result["drawTimes"]
        intervals += result["intervals"][1:]
    busy = page_busy_ms(cdp) - busy
    draws.sort()
    return {"max": draws[-1], "p95": draws[int(len(draws) * 0.95)], "median": statistics.median(draws),
            "interval_max": max(intervals), "busy_per_frame": busy / (len(scales) * (frames + 16))}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        # First start: count the built-in types, then add a pack that brings the server to ~300.
        proc, url = start_server(Path(tmp))
        builtin_types = server_object_info_ms(url, proc.pid, 1)[2]
        proc.terminate()
        proc.wait(10)
        write_many_nodes_pack(Path(tmp), builtin_types)
        proc, url = start_server(Path(tmp))
        try:
            wait_until_idle(proc.pid)  # the background imports after start-up would count as /object_info's CPU
            info_ms, info_cpu_ms, info_types = server_object_info_ms(url, proc.pid)
            print(f"GET /object_info with {info_types} node types: {info_ms:.1f} ms wall (best of 5, from Python), "
                  f"server CPU {info_cpu_ms:.1f} ms per request (mean)")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.goto(url + "/")
                page.wait_for_function("document.body.dataset.ready === 'true'")
                startups = []
                for _ in range(args.repeat):
                    page.reload()
                    page.wait_for_function("document.body.dataset.ready === 'true'")
                    startups.append(page.evaluate("app.startupMs"))
                print(f"page ready (navigation to first workflow drawn-ready, {info_types} types): "
                      f"best {min(startups):.0f} ms, median {statistics.median(startups):.0f} ms")
                results = []
                for attempt in range(args.repeat):
                    workflow = page.evaluate(BUILD_CHAINS_JS, 40)
                    busy = page_busy_ms(cdp)
                    open_ms = page.evaluate("""async (w) => { const t = performance.now(); await app.loadGraphData(w);
                        await new Promise(requestAnimationFrame); return performance.now() - t; }""", workflow)
                    open_busy = page_busy_ms(cdp) - busy
                    reference = pan(page, cdp, 2)
                    big = pan(page, cdp, 40)
                    results.append((open_ms, reference, big))
                    print(f"pass {attempt + 1}: open 200 nodes {open_ms:.0f} ms wall, {open_busy:.0f} ms page CPU | "
                          f"200 nodes draw max {big['max']:.1f} p95 {big['p95']:.1f} median {big['median']:.1f} ms, "
                          f"rAF interval max {big['interval_max']:.1f} ms, page CPU {big['busy_per_frame']:.1f} ms/frame"
                          f" | 10-node reference median {reference['median']:.1f} ms, "
                          f"{reference['busy_per_frame']:.1f} ms/frame CPU, ratio "
                          f"{big['median'] / max(reference['median'], 0.01):.1f}x")
                probes = [page.evaluate(OBJECT_INFO_PROBE_JS) for _ in range(args.repeat)]
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    best = min(results, key=lambda r: r[2]["max"])
    best_probe = min(probes, key=lambda p: p["fetchMs"] + p["register300Ms"])
    probe_total = best_probe["fetchMs"] + best_probe["register300Ms"]
    print(json.dumps({"open_200_ms": round(best[0], 1), "draw_max_ms": round(best[2]["max"], 1),
                      "draw_p95_ms": round(best[2]["p95"], 1), "draw_median_ms": round(best[2]["median"], 1),
                      "object_info_fetch_ms": round(best_probe["fetchMs"], 1), "server_types": best_probe["serverTypes"],
                      "register_300_types_ms": round(best_probe["register300Ms"], 1)}))
    frames_ok = best[2]["max"] < FRAME_TARGET_MS
    info_ok = probe_total < OBJECT_INFO_TARGET_MS
    print(f"no frame over {FRAME_TARGET_MS:.0f} ms: {'PASS' if frames_ok else 'FAIL'} (best pass max {best[2]['max']:.1f} ms); "
          f"/object_info + 300 types under {OBJECT_INFO_TARGET_MS:.0f} ms: {'PASS' if info_ok else 'FAIL'} ({probe_total:.1f} ms)")
    return 0 if frames_ok and info_ok else 1


if __name__ == "__main__":
    sys.exit(main())
