"""The command line's flags: shared ones (before or after the subcommand), server ones, and the
``serve``/``run``/``demo`` subcommands."""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_common_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Flags shared by every subcommand. In subparsers they default to SUPPRESS so that a flag
    given before the subcommand is not overwritten by the subparser's default."""
    def default(value):
        return argparse.SUPPRESS if suppress else value

    add = parser.add_argument
    add("--base-directory", default=default(str(ROOT)), help="root for models/, input/, output/, temp/, user/")
    add("--output-directory", default=default(None))
    add("--input-directory", default=default(None))
    add("--temp-directory", default=default(None))
    add("--user-directory", default=default(None))
    add("--extra-model-paths-config", action="append", default=default([]), metavar="YAML")
    add("--cpu", action="store_true", default=default(False), help="run every model on the CPU")
    add("--vram-budget", type=float, default=default(None), metavar="GB",
        help="offload least-recently-used models above this much accelerator memory")
    add("--cache-lru", type=int, default=default(0), metavar="N", help="keep the N most recent node results")
    add("--cache-none", action="store_true", default=default(False), help="keep no node results between prompts")
    add("--cache-ram", type=float, default=default(0.0), metavar="GB", help="keep node results up to this size")
    add("--preview-method", choices=["none", "latent2rgb"], default=default("latent2rgb"))
    add("--disable-all-custom-nodes", action="store_true", default=default(False))
    add("--whitelist-custom-nodes", nargs="*", default=default(None), metavar="PACK")
    add("--custom-nodes-dir", action="append", default=default([]), metavar="DIR")
    add("--verbose", action="store_true", default=default(False))


def add_server_flags(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value):
        return argparse.SUPPRESS if suppress else value

    add = parser.add_argument
    add("--listen", nargs="?", const="0.0.0.0", default=default("127.0.0.1"),
        help="address to bind (no value: all interfaces)")
    add("--port", type=int, default=default(8188))
    add("--auth-token", default=default(None), help="require 'Authorization: Bearer TOKEN' (and ?token= on /ws)")
    add("--enable-cors-header", nargs="?", const="*", default=default(None), metavar="ORIGIN")
    add("--max-upload-size", type=float, default=default(100.0), metavar="MB")
    add("--on-crash", choices=["requeue", "fail"], default=default("requeue"),
        help="what happens to the job that was running when the server died")
    add("--history-max", type=int, default=default(10000))
    add("--durable", action="store_true", default=default(False), help="SQLite synchronous=FULL")
    add("--cluster", default=default(None), metavar="ray://HOST:PORT|auto", help="run jobs on a Ray cluster")
    add("--workers-per-gpu", type=int, default=default(1))
    add("--cluster-cpu-workers", type=int, default=default(0), help="CPU-only Ray actors (tests)")
    add("--cluster-outputs", choices=["return", "shared"], default=default("return"),
        help="cluster workers send output files back (default), or write to an output folder every host shares")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plexus", description="Plexus node-graph studio")
    add_common_flags(parser, suppress=False)
    add_server_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the server and editor (default)")
    add_common_flags(serve, suppress=True)
    add_server_flags(serve, suppress=True)
    run = sub.add_parser("run", help="execute a workflow headless")
    add_common_flags(run, suppress=True)
    run.add_argument("workflow", help="API-format or editor JSON, or a PNG saved by Plexus")
    run.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE",
                     help="override an input, e.g. --set 3.seed=42 or --set KSampler.steps=4")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    demo = sub.add_parser("demo", help="write tiny random-weight demo models and workflows")
    add_common_flags(demo, suppress=True)
    demo.add_argument("--force", action="store_true", help="rewrite existing demo models")
    return parser
