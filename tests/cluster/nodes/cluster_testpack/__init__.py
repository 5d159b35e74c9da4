"""Test-only nodes for the cluster tests and bench/cluster.py, loaded as a custom-node pack
(``--custom-nodes-dir tests/cluster/nodes``) so the Ray actors load them exactly like the server.

- ``PxClusterSleep``: an output node that sleeps in steps (progress and interrupt checks at
  each step) and reports the process that ran it; ``marker`` names a file it appends to when it
  *finishes*, so a test can count how often a job really completed.
- ``PxClusterSaveText``: writes a text file into the output folder and names it in its ui.
- ``PxClusterNotify``: sends a custom websocket message through ``PromptServer.instance``.
- ``PxClusterLoadModel`` / ``PxClusterUseModel``: a fake model loader (kept warm in the model
  manager) and its consumer, for model-affinity tests.
"""
from __future__ import annotations

import os
import time

from execution.declare import Float, In, Int, Out, String, node


@node("PxClusterSleep", category="testing/cluster", output_node=True,
      inputs=[Float("seconds", 0.5, min=0.0, max=600.0), Int("steps", 5, min=1, max=100000),
              Int("value", 0, min=-10**9, max=10**9), String("marker", ""), In("after", "*", optional=True)],
      outputs=[Out("INT")])
def px_cluster_sleep(ctx, seconds: float, steps: int, value: int, marker: str, after=None):
    """Sleeps ``seconds`` in ``steps`` steps, then reports its value and process."""
    for step in range(steps):
        time.sleep(seconds / steps)
        ctx.progress(step + 1, steps)
    if marker:
        with open(marker, "a") as log:
            log.write(f"{ctx.prompt_id} {os.getpid()}\n")
    return {"ui": {"value": [value], "pid": [os.getpid()]}, "result": (value,)}


@node("PxClusterLoadModel", category="testing/cluster", inputs=[String("model_name", "a")],
      outputs=[Out("PXMODEL")])
def px_cluster_load_model(ctx, model_name: str):
    """A stand-in loader: the 'model' is cached in the model manager under its name."""
    def load():
        time.sleep(0.2)
        return {"name": model_name, "loaded_by": os.getpid()}

    return (ctx.services.models.get_or_load(f"pxtest:{model_name}", load),)


@node("PxClusterUseModel", category="testing/cluster", output_node=True,
      inputs=[In("model", "PXMODEL"), Int("seed", 0, min=0, max=10**9), Float("seconds", 0.0, min=0.0, max=60.0)],
      outputs=[])
def px_cluster_use_model(model, seed: int, seconds: float):
    time.sleep(seconds)
    return {"ui": {"model": [model["name"]], "pid": [os.getpid()], "seed": [seed]}}


@node("PxClusterNotify", category="testing/cluster", output_node=True, inputs=[String("text", "hello")], outputs=[])
def px_cluster_notify(text: str):
    from server import PromptServer  # ComfyUI's host module, as V1 packs use it

    server = PromptServer.instance
    server.send_sync("px.cluster.notify", {"text": text, "pid": os.getpid()}, server.client_id)
    server.send_sync("px.cluster.binary", b"not json", server.client_id)
    return {"ui": {"text": [text]}}


@node("PxClusterSaveText", category="testing/cluster", output_node=True,
      inputs=[String("text", "hello"), String("filename_prefix", "pxtext")], outputs=[Out("STRING")])
def px_cluster_save_text(ctx, text: str, filename_prefix: str):
    folder, stem, counter, subfolder = ctx.services.paths.save_path(filename_prefix)
    name = f"{stem}_{counter:05d}_.txt"
    (folder / name).write_text(text)
    return {"ui": {"files": [{"filename": name, "subfolder": subfolder, "type": "output"}]}, "result": (name,)}
