"""Assemble Plexus from its parts: config (parsed flags) -> services -> registry -> queue ->
workers -> server. ``main.py`` and the Ray worker actors both build through this module."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

EXAMPLE_NODES_DIR = Path(__file__).resolve().parents[1] / "examples" / "custom_nodes"
# The module the Ray actors import by name to build their own services, registry and cache.
ASSEMBLY_MODULE = __name__


def build_services(args: argparse.Namespace):
    from models.folders import FolderPaths
    from models.services import Services

    paths = FolderPaths.create(args.base_directory, input_dir=args.input_directory,
                               output_dir=args.output_directory, temp_dir=args.temp_directory,
                               user_dir=args.user_directory)
    for config in args.extra_model_paths_config or []:
        paths.load_extra_model_paths(config)
    default_yaml = Path(args.base_directory) / "extra_model_paths.yaml"
    if default_yaml.is_file():
        paths.load_extra_model_paths(default_yaml)
    paths.custom_node_dirs.extend(Path(d) for d in args.custom_nodes_dir or [])
    if getattr(args, "enable_example_nodes", False):
        paths.custom_node_dirs.append(EXAMPLE_NODES_DIR)
    paths.ensure_dirs()
    max_pixels = getattr(args, "max_image_pixels", 100.0)
    return Services(paths=paths, force_cpu=args.cpu, vram_budget_gb=args.vram_budget,
                    preview_method=args.preview_method,
                    max_image_pixels=int(max_pixels * 1_000_000) if max_pixels else None,
                    max_tensor_gb=getattr(args, "max_tensor_memory", None),
                    png_compress_level=getattr(args, "png_compress_level", None))


def build_cache(args: argparse.Namespace):
    """A fresh output cache as the cache flags say (one per worker)."""
    from execution.cache import make_cache

    if args.cache_none:
        return make_cache("none")
    if args.cache_lru:
        return make_cache("lru", lru_entries=args.cache_lru)
    if args.cache_ram:
        return make_cache("ram", ram_gb=args.cache_ram)
    return make_cache("graph")


def build_registry(args: argparse.Namespace, services, server=None):
    """Built-in nodes, then custom-node packs (unless disabled). Returns (registry, plugin report)."""
    from execution.registry import NodeRegistry
    from nodes import register_builtin_nodes

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    report = None
    # ComfyUI's pairing: --disable-all-custom-nodes --whitelist-custom-nodes a b loads only a and b.
    if not args.disable_all_custom_nodes or args.whitelist_custom_nodes:
        try:
            from execution.plugins.loader import load_custom_nodes
        except ImportError:  # plugin loading not installed in this build
            return registry, None
        report = load_custom_nodes(registry, services.paths.custom_node_dirs, services=services,
                                   whitelist=args.whitelist_custom_nodes, server=server,
                                   import_timeout=getattr(args, "custom_node_import_timeout", 120.0))
    return registry, report


# What ``--preload`` imports in the background once the server listens, so that the first prompt
# does not wait for it (importing torch takes seconds; /object_info needs none of it). psutil (the
# validation's memory budget) and Pillow's format plugins (``Image.preinit``, run by the first
# ``save``) are what a first image prompt imports besides torch and numpy.
PRELOADS = {"none": (), "torch": ("psutil", "PIL.Image", "PIL.PngImagePlugin", "numpy", "torch"),
            "all": ("psutil", "PIL.Image", "PIL.PngImagePlugin", "numpy", "torch", "diffusers", "transformers")}


def preload_frameworks(choice: str) -> threading.Thread | None:
    """Import the ``--preload`` modules on a daemon thread; a failure only means a slower first prompt."""
    modules = PRELOADS.get(choice, ())
    if not modules:
        return None

    def run() -> None:
        started = time.perf_counter()
        for name in modules:
            try:
                importlib.import_module(name)
                if name == "PIL.Image":
                    sys.modules[name].preinit()  # the format plugins the first save imports
            except Exception as error:  # noqa: BLE001 - the node that needs it will report it
                print(f"[plexus] preloading {name} failed: {error}", file=sys.stderr, flush=True)
        print(f"[plexus] preloaded {', '.join(modules)} in {time.perf_counter() - started:.1f} s", flush=True)

    thread = threading.Thread(target=run, name="plexus-preload", daemon=True)
    thread.start()
    return thread


def _listen_hosts(listen: str) -> list[str]:
    return [h.strip() for h in (listen or "127.0.0.1").split(",") if h.strip()]


def build_backend_factory(args: Any, registry: Any, services: Any,
                          build_cache: Callable[[Any], Any]) -> tuple[Callable[[], Any], int]:
    """The execution backend: in-process by default; Ray actors with ``--cluster`` (issue 9)."""
    if getattr(args, "cluster", None):
        from execution.cluster.backend import ray_backend_factory  # imports ray; only with --cluster

        return ray_backend_factory(args, registry, services, assembly_module=ASSEMBLY_MODULE)
    from execution.jobs.worker import LocalBackend

    return (lambda: LocalBackend(registry, build_cache(args), services)), 1


def clean_crash_leftovers(services: Any, queue: Any) -> None:
    """What a ``kill -9`` may have left: temporary files, and files of jobs whose outcome does not
    list them (the job is re-queued and will write them again, or was given up)."""
    import time

    from models.output_journal import files_in_outputs, reconcile_outputs
    from models.safe_files import remove_stale_partials

    paths = services.paths
    removed = remove_stale_partials([paths.output_dir, paths.temp_dir, paths.input_dir, paths.user_dir],
                                    older_than=time.time())
    def recorded_files(prompt_id: str) -> set[Path] | None:
        outputs = queue.recorded_outputs(prompt_id)
        return None if outputs is None else files_in_outputs(outputs, paths.folder_for_type)

    orphans = reconcile_outputs(paths.user_dir, recorded_files)
    if removed or orphans:
        print(f"[plexus] removed {removed} temporary file(s) and {len(orphans)} unrecorded output(s) "
              f"left by a crash", flush=True)


def serve_command(args: Any, services: Any, registry_builder: Callable = build_registry) -> int:
    """Start the server and its workers; blocks until SIGINT/SIGTERM."""
    from execution.jobs.queue import JobQueue
    from execution.jobs.worker import WorkerPool
    from models.output_journal import OutputJournal
    from web.security import is_loopback_host
    from web.server import QUEUE_DB_NAME, PlexusServer

    # The loop thread and the worker threads share the GIL; a 1 ms switch interval (instead of
    # 5 ms) keeps HTTP and websocket answers prompt while a node computes in pure Python.
    sys.setswitchinterval(0.001)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    hosts = _listen_hosts(args.listen)
    loopback_only = all(is_loopback_host(h) for h in hosts)
    if not loopback_only and not args.auth_token:
        print("WARNING: Plexus is listening on a non-loopback address without --auth-token: anyone who can "
              "reach this port can run workflows and read your files. Pass --auth-token TOKEN.",
              file=sys.stderr, flush=True)
    from web.frontends import FrontendNotInstalled, choose_frontend

    try:
        frontend = choose_frontend(getattr(args, "front_end", None), getattr(args, "front_end_root", None))
    except FrontendNotInstalled as exc:
        print(f"Plexus: {exc}", file=sys.stderr)
        return 1
    server = PlexusServer(services, auth_token=args.auth_token, cors_origin=args.enable_cors_header,
                          max_upload_mb=args.max_upload_size, loop=loop, loopback_only=loopback_only,
                          frontend=frontend, allowed_hosts=args.allow_host,
                          verbose_errors=args.verbose_errors, ws_client_buffer_mb=args.ws_client_buffer,
                          ws_total_buffer_mb=args.ws_total_buffer)
    registry, report = registry_builder(args, services, server=server)
    queue = JobQueue(Path(services.paths.user_dir) / QUEUE_DB_NAME, durable=args.durable,
                     history_max=args.history_max)
    if not queue.claim_ownership():
        print(f"Plexus: another server is already using {queue.db_path}; stop it first or pass another "
              f"--user-directory.", file=sys.stderr)
        queue.close()
        return 1
    recovered = queue.recover_running(args.on_crash, reason="the server stopped while it ran")
    clean_crash_leftovers(services, queue)
    services.output_journal = OutputJournal(services.paths.user_dir)
    factory, count = build_backend_factory(args, registry, services, build_cache)
    pool = WorkerPool(queue, factory, server, count=count, on_crash=args.on_crash,
                      job_timeout=args.job_timeout or None, interrupt_grace=args.interrupt_grace)
    server.attach(registry, report, queue, pool)
    try:
        runner = loop.run_until_complete(server.start(hosts, args.port))
    except OSError as exc:
        print(f"Plexus cannot listen on {args.listen}:{args.port}: {exc}", file=sys.stderr)
        return 1
    pool.start()
    preload_frameworks(getattr(args, "preload", "none"))
    if recovered:
        print(f"[plexus] {len(recovered)} job(s) were running when the server stopped: "
              f"{'re-queued' if args.on_crash == 'requeue' else 'marked interrupted'}", flush=True)
    shown = hosts[0] if hosts[0] not in ("0.0.0.0", "::") else "127.0.0.1"
    print(f"Plexus: {len(registry)} nodes, {queue.remaining()} queued. "
          f"Listening on http://{shown}:{args.port} (frontend: {frontend.name}"
          f"{' ' + frontend.version if frontend.version else ''}; Plexus editor at /plexus/)", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, loop.stop)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        loop.run_forever()
    finally:
        pool.stop()
        services.output_journal.close()
        loop.run_until_complete(server.hub.close_all())
        loop.run_until_complete(runner.cleanup())
        queue.close()
        loop.close()
    return 0
