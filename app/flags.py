"""The command line's flags: shared ones (before or after the subcommand), server ones, and the
``serve``/``run``/``demo`` subcommands. Every flag's help shows its default."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8188


def _adder(parser: argparse.ArgumentParser, suppress: bool):
    """``add(*names, default=..., help=..., **options)`` that writes the default into the help text.

    In subparsers the defaults are SUPPRESS, so that a flag given before the subcommand is not
    overwritten by the subparser's default; the help still names the real default."""
    def add(*names: str, default: Any = None, help: str, shown: str | None = None, **options: Any) -> None:
        if shown is None:
            shown = "off" if default is False else "none" if default in (None, []) else str(default)
        parser.add_argument(*names, default=argparse.SUPPRESS if suppress else default,
                            help=f"{help} (default: {shown})", **options)
    return add


def add_folder_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    add = _adder(parser, suppress)
    add("--base-directory", default=str(ROOT), shown="the checkout",
        help="root for models/, input/, output/, temp/, user/ and custom_nodes/")
    add("--user-directory", default=None, shown="BASE/user", help="settings, workflows, queue database")


def add_common_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Flags shared by ``serve`` and ``run``."""
    add_folder_flags(parser, suppress=suppress)
    add = _adder(parser, suppress)
    add("--output-directory", default=None, shown="BASE/output", help="where output nodes write files")
    add("--input-directory", default=None, shown="BASE/input", help="where LoadImage reads and uploads go")
    add("--temp-directory", default=None, shown="BASE/temp", help="previews and other throw-away files")
    add("--extra-model-paths-config", action="append", default=[], metavar="YAML",
        help="extra model and custom-node folders, ComfyUI's extra_model_paths.yaml format (repeatable)",
        shown="BASE/extra_model_paths.yaml when present")
    add("--cpu", action="store_true", default=False, help="run every model on the CPU")
    add("--vram-budget", type=float, default=None, metavar="GB", shown="all free memory",
        help="offload least-recently-used models above this much accelerator memory")
    add("--cache-lru", type=int, default=0, metavar="N", shown="0: keep the current graph's results",
        help="keep the N most recent node results")
    add("--cache-none", action="store_true", default=False, help="keep no node results between prompts")
    add("--cache-ram", type=float, default=0.0, metavar="GB", shown="0: off", help="keep node results up to this size")
    add("--preview-method", choices=["none", "latent2rgb"], default="latent2rgb",
        help="how sampling previews are drawn")
    add("--disable-all-custom-nodes", action="store_true", default=False, help="load no custom-node pack")
    add("--whitelist-custom-nodes", nargs="*", default=None, metavar="PACK", shown="all packs",
        help="load only these packs (with --disable-all-custom-nodes: only these)")
    add("--custom-nodes-dir", action="append", default=[], metavar="DIR",
        help="another folder of custom-node packs (repeatable)")
    add("--custom-node-import-timeout", type=float, default=120.0, metavar="SECONDS", shown="120; 0: no limit",
        help="skip (and report) a custom-node pack whose import takes longer")
    add("--enable-example-nodes", action="store_true", default=False,
        help="also load the documented example pack (examples/custom_nodes/example_pack)")
    add("--verbose", action="store_true", default=False, help="debug logging, tracebacks included, on stderr")
    add("--max-image-pixels", type=float, default=100.0, metavar="MEGAPIXELS", shown="100 (0: no limit)",
        help="frames x width x height an uploaded, loaded or previewed image may decode to")
    add("--max-tensor-memory", type=float, default=None, metavar="GB", shown="half the free memory",
        help="memory one node's result may take, checked at validation before anything runs")
    add("--png-compress-level", type=int, default=None, choices=range(10), metavar="0-9",
        shown="4 for saved images, 1 for previews (ComfyUI's)",
        help="zlib level of the PNGs SaveImage and PreviewImage write (0: none, fastest to write)")


def add_server_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    add = _adder(parser, suppress)
    add("--listen", nargs="?", const="0.0.0.0", default=DEFAULT_HOST, metavar="ADDR",
        help="address(es) to bind, comma-separated; the flag alone binds all interfaces")
    add("--port", type=int, default=DEFAULT_PORT, help="port to bind")
    add("--auth-token", default=None, metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' (or ?token= on the page and /ws)")
    add("--enable-cors-header", nargs="?", const="*", default=None, metavar="ORIGIN", shown="off; the flag alone: *",
        help="answer cross-site requests from ORIGIN")
    add("--max-upload-size", type=float, default=100.0, metavar="MB", help="largest accepted upload")
    add("--on-crash", choices=["requeue", "fail"], default="requeue",
        help="what happens to the job that was running when the server died")
    add("--history-max", type=int, default=10000, metavar="N", help="history entries kept")
    add("--durable", action="store_true", default=False, help="SQLite synchronous=FULL (survives power loss)")
    add("--front-end", choices=["plexus", "comfyui"], default="plexus",
        help="the frontend at /: the Plexus editor, or the installed comfyui-frontend-package "
             "(pip install -r requirements-frontend.txt); the Plexus editor is always at /plexus/")
    add("--front-end-root", default=None, metavar="DIR", shown="off",
        help="serve the built frontend in DIR at /; wins over --front-end")
    add("--preload", choices=["torch", "all", "none"], default="torch",
        help="frameworks imported in the background once the server listens, so the first prompt does not "
             "wait for them: torch (with numpy, PIL and psutil), all (also diffusers and transformers), or none")
    add("--allow-host", action="append", default=[], metavar="NAME",
        help="a Host name the server answers to besides loopback names and IP addresses (DNS rebinding; repeatable)")
    add("--verbose-errors", action="store_true", default=False,
        help="send tracebacks and local paths to remote clients too (loopback clients always get them)")
    add("--job-timeout", type=float, default=0.0, metavar="SECONDS", shown="0: no limit",
        help="interrupt (then fail) a job that runs longer than this")
    add("--interrupt-grace", type=float, default=10.0, metavar="SECONDS",
        help="a job that ignores an interrupt this long is failed and the next one starts on a fresh worker")
    add("--ws-client-buffer", type=float, default=16.0, metavar="MB",
        help="websocket bytes pending per client; previews are dropped first, then the client is disconnected")
    add("--ws-total-buffer", type=float, default=256.0, metavar="MB",
        help="websocket bytes pending for all clients together")
    add("--cluster", default=None, metavar="ray://HOST:PORT|auto|local", shown="off: run jobs in this process",
        help="run jobs on Ray actors: a cluster's address, 'auto' (this host's cluster) or 'local' (a private Ray)")
    add("--workers-per-gpu", type=int, default=1, metavar="N", help="Ray actors per GPU")
    add("--cluster-cpu-workers", type=int, default=0, metavar="N", help="CPU-only Ray actors")
    add("--cluster-outputs", choices=["return", "shared"], default="return",
        help="cluster workers send output files back, or write to an output folder every host shares")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plexus", description="Plexus node-graph studio")
    add_common_flags(parser, suppress=False)
    add_server_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="{serve,run,demo}")
    serve = sub.add_parser("serve", help="start the server and editor (the default)")
    add_common_flags(serve, suppress=True)
    add_server_flags(serve, suppress=True)
    run = sub.add_parser("run", help="execute a workflow headless; prints the output files' paths")
    add_common_flags(run, suppress=True)
    run.add_argument("workflow", help="API-format or editor JSON, or a PNG saved by Plexus or ComfyUI")
    run_add = _adder(run, False)
    run_add("--set", action="append", default=[], metavar="NODE.INPUT=VALUE", shown="none",
            help="override an input; NODE is an id, a class type or a title, e.g. --set KSampler.seed=7 (repeatable)")
    run_add("--quiet", action="store_true", default=False, help="no progress lines or bar on stderr")
    run_add("--json", action="store_true", default=False,
            help="print one JSON document on stdout: the outputs, or the error")
    demo = sub.add_parser("demo", help="write tiny random-weight demo models and workflows")
    add_folder_flags(demo, suppress=True)
    demo_add = _adder(demo, False)
    demo_add("--force", action="store_true", default=False, help="rewrite existing demo models")
    hint_add = _adder(demo, True)  # also accepted before the subcommand, as `make run` passes them
    hint_add("--listen", default=DEFAULT_HOST, metavar="ADDR", help="server address the closing hint shows")
    hint_add("--port", type=int, default=DEFAULT_PORT, help="server port the closing hint shows")
    return parser
