"""Plexus command line: ``serve`` (default), ``run WORKFLOW``, ``demo``.

Folder and cache flags may be written before or after the subcommand.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from app.flags import build_parser  # noqa: E402 - after the offline switches above
from app.logs import configure_logging  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(bool(getattr(args, "verbose", False)))
    command = args.command or "serve"
    if command == "demo":
        from models.demo.command import demo_command

        return demo_command(args)
    from app import assembly

    services = assembly.build_services(args)
    if command == "run":
        from app.run_command import run_workflow_command

        registry, _ = assembly.build_registry(args, services)
        return run_workflow_command(args, registry, services, assembly.build_cache(args))
    return assembly.serve_command(args, services)


if __name__ == "__main__":
    sys.exit(main())
