"""Loading a model from the model folders once per version on disk, through the model manager."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def model_cache_key(kind: str, path: Path) -> str:
    """A manager key that changes when the model on disk changes (newest mtime inside a folder)."""
    if path.is_dir():
        stamp = max((p.stat().st_mtime_ns for p in path.iterdir() if p.is_file()), default=0)
    else:
        stamp = path.stat().st_mtime_ns
    return f"{kind}:{path}:{stamp}"


def resolve_model(services: Any, kind: str, name: str) -> Path:
    path = services.paths.model_path(kind, name)
    if path is None:
        raise FileNotFoundError(f"{kind} model {name!r} not found in models/{kind}/")
    return path


def load_managed(services: Any, kind: str, name: str, loader: Callable[[Path, Any, Any], Any]) -> Any:
    """``loader(path, dtype, manager)`` once per model version, cached by the model manager."""
    path = resolve_model(services, kind, name)
    manager = services.models
    return manager.get_or_load(model_cache_key(kind, path), lambda: loader(path, manager.dtype, manager))
