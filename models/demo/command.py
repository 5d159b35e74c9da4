"""``python main.py demo``: write tiny random-weight demo models and the default workflows.

The SD3 files come from ``models/demo/sd3.py``; other domains add theirs through optional writers
(``models.demo.control.write_demo_control`` and ``models.demo.vlm.write_demo_vlm``), called when
their modules exist. Idempotent: present files are kept unless ``--force``.
"""
from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WORKFLOWS = ROOT / "workflows"
OPTIONAL_WRITERS = (("models.demo.control", "write_demo_control"), ("models.demo.vlm", "write_demo_vlm"),
                    ("models.demo.lora", "write_demo_lora"),
                    ("models.demo.evaluation", "write_demo_benchmarks"),
                    ("models.demo.flux", "write_demo_flux"), ("models.demo.flux_tools", "write_demo_flux_tools"),
                    ("models.demo.stable_diffusion", "write_demo_unet"),
                    ("models.demo.ip_adapter_unet", "write_demo_unet_ip_adapter"))


def _optional_writers() -> list[tuple[str, Any]]:
    found = []
    for module_name, function_name in OPTIONAL_WRITERS:
        if importlib.util.find_spec(module_name) is None:
            continue
        function = getattr(importlib.import_module(module_name), function_name, None)
        if function is not None:
            found.append((module_name, function))
    return found


def write_demo_models(models_dir: str | Path, force: bool = False) -> list[Path]:
    """Write every domain's demo models into ``models_dir``; returns the paths written this time.

    A failing optional writer is reported on stderr and the others still run; the SD3 writer's
    errors propagate (the default workflow needs it).
    """
    from models.demo.sd3 import write_demo_sd3

    models_dir = Path(models_dir)
    for kind in ("checkpoints", "diffusion_models", "text_encoders", "vae", "controlnet", "clip_vision",
                 "ipadapter", "vlm", "retrieval", "clip_models"):
        (models_dir / kind).mkdir(parents=True, exist_ok=True)
    written = list(write_demo_sd3(models_dir, force=force))
    for module_name, writer in _optional_writers():
        try:
            written.extend(Path(p) for p in (writer(models_dir, force) or []))
        except Exception as error:  # noqa: BLE001 - one domain's demo must not block the others
            print(f"demo: {module_name} failed: {type(error).__name__}: {error}", file=sys.stderr)
    return written


def install_demo_workflows(user_dir: Path) -> list[Path]:
    """Copy every shipped workflow (``workflows/*.json``, API-format ones included) into the editor's
    workflow browser (``user/default/workflows``); files already there are kept."""
    target = user_dir / "default" / "workflows"
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(SHIPPED_WORKFLOWS.glob("*.json")):
        if not (target / source.name).exists():
            shutil.copyfile(source, target / source.name)
            copied.append(target / source.name)
    return copied


def _served_at(args: Any) -> tuple[str, int]:
    """The host and port that ``serve`` with the same flags listens on, as a browser address."""
    hosts = [h.strip() for h in str(getattr(args, "listen", None) or "127.0.0.1").split(",") if h.strip()]
    host = hosts[0] if hosts and hosts[0] not in ("0.0.0.0", "::") else "127.0.0.1"
    return (f"[{host}]" if ":" in host else host), int(getattr(args, "port", None) or 8188)


def demo_command(args: Any) -> int:
    base = Path(getattr(args, "base_directory", None) or ROOT)
    models_dir = base / "models"
    user_dir = Path(getattr(args, "user_directory", None) or base / "user")
    started = time.perf_counter()
    written = write_demo_models(models_dir, force=bool(getattr(args, "force", False)))
    install_demo_workflows(user_dir)
    elapsed = time.perf_counter() - started
    if written:
        print(f"Wrote {len(written)} demo model files into {models_dir} in {elapsed:.1f} s.")
    else:
        print(f"Demo models already present in {models_dir} (use --force to rewrite).")
    print("These are RANDOM WEIGHTS for smoke tests: the graphs run end to end, the images are noise.")
    host, port = _served_at(args)
    serve_flags = "".join(f" {flag}" for flag in (
        f"--listen {getattr(args, 'listen', None)}" if getattr(args, "listen", None) not in (None, "127.0.0.1") else "",
        f"--port {port}" if port != 8188 else "") if flag)
    print("Try:  python main.py run workflows/sd3_text_to_image.json")
    print("      python main.py run workflows/flux_text_to_image.json")
    print(f"      python main.py serve{serve_flags}   (then open http://{host}:{port} and load sd3_text_to_image)")
    return 0
