"""The Plexus worker that runs inside a Ray actor process (one per GPU, ``--cluster``).

It builds its own services, node registry (built-ins and the same custom-node folders) and
output cache from the server's configuration, exactly as ``main.py`` does for a local server,
and keeps them - so loaded models stay warm between jobs. ``ray_backend`` wraps this class with
``ray.remote`` (threaded: ``max_concurrency`` > 1, so ``interrupt`` and ``info`` are served
while a job runs).

``run(job)`` is a Ray streaming generator. The job runs on the actor's single job thread (the
runner's event loop lives there); its events are drained in batches and yielded as
``("events", [(event, files), ...])``, where ``files`` are the output files an ``executed``
event names (see :mod:`execution.cluster.files`). The last item is ``("result", {...})``.
Measured on one machine: about 1 ms per yielded batch, and events that arrive while a batch is
in flight share the next one; of several previews in a batch only the newest is kept (the
server would drop stale previews anyway), downscaled here to the preview size.

Interrupt is a flag checked by the runner between nodes and by ``ctx.progress`` at every step.
An interrupt that arrives before its job has started is remembered by prompt id.

Imports no Ray and no torch at module level: it is plain Python run by Ray.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import socket
import sys
import tempfile
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from execution.cluster.files import OutputCollector, ShippedFile, place_inputs
from execution.context import InterruptFlag
from execution.events import Event, Executed, Progress
from execution.plugins.host import OfflineServer

_DONE = object()
MAX_REMEMBERED_INTERRUPTS = 256


@dataclass(slots=True)
class PackMessage(Event):
    """A custom node's ``PromptServer.instance.send_sync(name, data)`` inside an actor, forwarded."""

    name: str = ""
    payload: Any = None

    @property
    def type(self) -> str:  # the server sends it as ``{"type": name, "data": payload}``
        return self.name

    def data(self) -> Any:
        return self.payload


class ActorPromptServer(OfflineServer):
    """``PromptServer.instance`` for the packs loaded in an actor: their JSON messages join the
    running job's event stream (binary frames cannot travel as events and are only kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.forward: Callable[[str, Any], None] | None = None

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        super().send_sync(event, data, sid)
        forward = self.forward
        if forward is not None and not isinstance(data, (bytes, bytearray, memoryview)):
            try:
                json.dumps(data)
            except (TypeError, ValueError):
                return
            forward(event, data)


class PlexusWorkerActor:
    def __init__(self, config: dict) -> None:
        root = config["root"]
        if root not in sys.path:
            sys.path.insert(0, root)
        # The same wiring as the server (services -> registry -> cache), named by the server.
        assembly = importlib.import_module(config["assembly"])

        self.name: str = config["name"]
        self.outputs_mode: str = config.get("outputs", "return")
        self.preview_max_side = int(config.get("preview_max_side", 512))
        args = argparse.Namespace(**config["args"])
        if self.outputs_mode == "shared":
            self.private_dir = None
            for kind in ("output", "input", "temp", "user"):
                setattr(args, f"{kind}_directory", config["paths"][kind])
        else:  # private folders; outputs go back to the server, inputs come with the job
            self.private_dir = Path(tempfile.mkdtemp(prefix=f"plexus-{self.name}-"))
            for kind in ("output", "input", "temp", "user"):
                setattr(args, f"{kind}_directory", str(self.private_dir / kind))
        self.services = assembly.build_services(args)
        self.pack_server = ActorPromptServer()
        self.registry, self.plugin_report = assembly.build_registry(args, self.services, server=self.pack_server)
        self.cache = assembly.build_cache(args)
        paths = self.services.paths
        self.roots = {"output": Path(paths.output_dir), "temp": Path(paths.temp_dir), "input": Path(paths.input_dir)}
        self.collector = OutputCollector(self.roots) if self.private_dir is not None else None
        self.flag = InterruptFlag()
        from execution.runner import PromptRunner

        self.runner = PromptRunner(self.registry, self.cache, self.services, self.flag)
        self._job_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plexus-job")
        self._state = threading.Lock()
        self._current: str | None = None
        self._early_interrupts: list[str] = []
        self.jobs_run = 0

    # -- jobs ------------------------------------------------------------------------------------
    def run(self, job: dict) -> Iterator[tuple[str, Any]]:
        prompt_id = job["prompt_id"]
        with self._state:
            self._current = prompt_id
            early = prompt_id in self._early_interrupts
        self.flag.clear()
        if early:
            self.flag.set()
        if self.collector is not None:
            self.collector.reset()
            inputs: list[ShippedFile] = job.get("input_files") or []
            place_inputs(inputs, self.roots)
            self.collector.mark_present(inputs)
        events: queue.SimpleQueue = queue.SimpleQueue()
        self.pack_server.client_id = (job.get("extra_data") or {}).get("client_id")
        self.pack_server.forward = lambda name, data: events.put(PackMessage(prompt_id, name=name, payload=data))
        future = self._job_thread.submit(self._run_job, job, events.put)
        try:
            finished = False
            while not finished:
                batch = [events.get()]
                while True:
                    try:
                        batch.append(events.get_nowait())
                    except queue.Empty:
                        break
                if any(item is _DONE for item in batch):
                    batch = [item for item in batch if item is not _DONE]
                    finished = True
                if batch:
                    yield ("events", self._pack(batch))
            result = future.result()
            files = self.collector.leftovers() if self.collector is not None else []
            self.jobs_run += 1
            yield ("result", {"status": result.status, "outputs": result.outputs, "messages": result.messages,
                              "error": result.error, "files": files, "info": self.info()})
        finally:
            self.pack_server.forward = None
            with self._state:
                self._current = None

    def _run_job(self, job: dict, emit) -> Any:
        try:
            return self.runner.run(job["prompt_id"], job["prompt"], job["outputs"], emit, job.get("extra_data"))
        except BaseException as exc:  # noqa: BLE001 - reported as the job's error
            from execution.runner import RunResult

            return RunResult("error", error={"exception_message": str(exc), "exception_type": type(exc).__name__,
                                             "traceback": traceback.format_exception(type(exc), exc,
                                                                                     exc.__traceback__)})
        finally:
            emit(_DONE)

    def _pack(self, batch: list[Event]) -> list[tuple[Event, list[ShippedFile]]]:
        last_preview = max((i for i, e in enumerate(batch) if isinstance(e, Progress) and e.preview is not None),
                           default=-1)
        packed = []
        for index, event in enumerate(batch):
            files: list[ShippedFile] = []
            if isinstance(event, Progress) and event.preview is not None:
                event.preview = self._small(event.preview) if index == last_preview else None
            elif isinstance(event, Executed) and self.collector is not None:
                files = self.collector.for_ui(event.output)
            packed.append((event, files))
        return packed

    def _small(self, image: Any) -> Any:
        try:
            if max(image.size) > self.preview_max_side:
                image = image.copy()
                image.thumbnail((self.preview_max_side, self.preview_max_side))
        except Exception:  # noqa: BLE001 - not a PIL image: send as it is
            pass
        return image

    # -- control (served concurrently with run) --------------------------------------------------
    def interrupt(self, prompt_id: str | None = None) -> bool:
        with self._state:
            if prompt_id is None or prompt_id == self._current:
                self.flag.set()
                return True
            self._early_interrupts = (self._early_interrupts + [prompt_id])[-MAX_REMEMBERED_INTERRUPTS:]
            return False

    def free(self, unload_models: bool, free_memory: bool) -> dict:
        if free_memory:
            self.cache.clear()
        if (unload_models or free_memory) and "models" in vars(self.services):
            self.services.models.free()
        return self.info()

    def info(self, with_node_names: bool = False) -> dict:
        """Where this worker runs and what it holds (``/system_stats``); its node types if asked."""
        import ray

        context = ray.get_runtime_context()
        gpu_ids = [str(i) for i in context.get_accelerator_ids().get("GPU", [])]
        device, loaded = None, []
        if "models" in vars(self.services):
            try:
                device = str(self.services.models.device)
                loaded = self.services.models.loaded_models()
            except Exception as exc:  # noqa: BLE001 - stats must not fail
                loaded = [{"error": str(exc)}]
        info = {"name": self.name, "hostname": socket.gethostname(), "pid": os.getpid(),
                "node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address(),
                "gpu_ids": gpu_ids, "device": device or (f"gpu:{','.join(gpu_ids)}" if gpu_ids else "cpu"),
                "loaded_models": loaded, "jobs_run": self.jobs_run, "nodes": len(self.registry),
                "outputs": self.outputs_mode, "running": self._current}
        if with_node_names:
            info["node_names"] = self.registry.names()
        return info

    def shutdown(self) -> None:
        self.flag.set()
        self._job_thread.shutdown(wait=False, cancel_futures=True)
