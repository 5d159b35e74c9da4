"""``main.py run WORKFLOW``: headless execution.

stdout carries only results: the absolute path of every output file (images and text files), one per
line, or with ``--json`` one JSON document (the outputs, or the error). Progress, warnings, logs and
error summaries go to stderr. An error prints a one-line summary first, then the ComfyUI-shaped
document (``{"error", "node_errors"}``); tracebacks are logged at debug level (shown with ``--verbose``).
"""
from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

from app.overrides import apply_overrides
from execution.events import Event
from execution.registry import NodeRegistry
from execution.runner import PromptRunner
from execution.validate import summarize, validate_prompt
from execution.workflow import WorkflowError, load_any, read_png_workflow

log = logging.getLogger("plexus.run")


def load_workflow_file(path: Path, registry: NodeRegistry) -> tuple[dict, dict | None, list[str]]:
    """(API prompt, editor workflow or None, warnings) of a JSON or PNG file. WorkflowError for a
    file that is not one (OSError when it cannot be read)."""
    if path.suffix.lower() == ".png":
        try:
            prompt, workflow = read_png_workflow(str(path))
        except (ValueError, RecursionError) as exc:
            raise WorkflowError(f"{path}: its 'prompt' or 'workflow' chunk is not valid JSON: {exc}") from exc
        if prompt:
            return prompt, workflow, []
        if workflow:
            return _converted(workflow, registry, path)
        raise WorkflowError(f"{path} carries no 'prompt' or 'workflow' chunk")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise WorkflowError(f"{path} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise WorkflowError(f"{path} is nested too deeply to read") from exc
    return _converted(data, registry, path)


def _converted(data: Any, registry: NodeRegistry, path: Path) -> tuple[dict, dict | None, list[str]]:
    try:
        return load_any(data, registry)
    except WorkflowError:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed document is the user's error, as POST /prompt answers it
        raise WorkflowError(f"cannot convert {path}: {type(exc).__name__}: {exc}"[:500]) from exc


class ProgressPrinter:
    """Turns the event stream into per-node lines and one tqdm bar per executing node (stderr)."""

    def __init__(self, prompt: dict, quiet: bool):
        self.prompt = prompt
        self.quiet = quiet
        self.bar = None
        self.executed = 0

    def __call__(self, event: Event) -> None:
        if event.type == "executing":
            self.close()
            if event.node is not None:
                self.executed += 1
                if not self.quiet:
                    node = self.prompt.get(event.display_node or event.node, {})
                    label = (node.get("_meta") or {}).get("title") or node.get("class_type", event.node)
                    print(f"[{event.node}] {label}", file=sys.stderr)
        elif event.type == "progress" and not self.quiet:
            from tqdm import tqdm

            if self.bar is None or self.bar.total != event.max:
                self.close()
                self.bar = tqdm(total=event.max, leave=False, file=sys.stderr, unit="step")
            self.bar.n = event.value
            self.bar.refresh()
        elif event.type == "warning":
            print(f"warning: node {event.node}: {event.message}", file=sys.stderr)
        elif event.type == "execution_cached" and event.nodes and not self.quiet:
            print(f"cached: {len(event.nodes)} node(s)", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def output_files(outputs: dict, services: Any) -> list[str]:
    """Absolute paths of the files the output nodes wrote (images, then text files), in node order."""
    paths: list[str] = []
    for ui in outputs.values():
        for item in (ui.get("images") or []) + (ui.get("files") or []):
            if not isinstance(item, dict) or "filename" not in item:
                continue
            folder = services.paths.folder_for_type(item.get("type", "output"))
            if folder is not None:
                paths.append(str((folder / item.get("subfolder", "") / item["filename"]).resolve()))
    return paths


def _fail(summary: str, document: dict, as_json: bool, code: int) -> int:
    print(f"error: {summary}", file=sys.stderr)
    text = json.dumps(document, indent=2, default=str)
    print(text, file=sys.stdout if as_json else sys.stderr)
    return code


def _execution_error_document(error: dict, verbose: bool) -> dict:
    traceback_lines = error.get("traceback") or []
    if traceback_lines:
        log.debug("node %s (%s) failed:\n%s", error.get("node_id"), error.get("node_type"),
                  "".join(traceback_lines))
    if not verbose:
        error = {k: v for k, v in error.items() if k != "traceback"}
    return {"error": {"type": "execution_error", "message": error.get("exception_message", ""),
                      "details": error.get("node_type", ""), "extra_info": error}, "node_errors": {}}


def run_workflow_command(args: Any, registry: NodeRegistry, services: Any, cache: Any) -> int:
    path = Path(args.workflow)
    as_json = bool(getattr(args, "json", False))
    verbose = bool(getattr(args, "verbose", False))
    try:
        prompt, workflow, warnings = load_workflow_file(path, registry)
        workflow, override_warnings = apply_overrides(prompt, workflow, getattr(args, "set", []) or [], registry)
    except (OSError, WorkflowError) as exc:
        document = {"error": {"type": "invalid_prompt", "message": str(exc), "details": str(path),
                              "extra_info": {}}, "node_errors": {}}
        return _fail(f"cannot run {path}: {exc}", document, as_json, 2)
    for warning in warnings + override_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    validation = validate_prompt(prompt, registry, services)
    if not validation.ok:
        response = validation.response()
        return _fail(summarize(response), response, as_json, 1)
    if validation.node_errors:
        skipped = {"error": {"message": "some outputs failed validation and are skipped"},
                   "node_errors": validation.node_errors}
        print(f"warning: {summarize(skipped)}", file=sys.stderr)
    extra_data = {"extra_pnginfo": {"workflow": workflow}} if workflow else {}
    printer = ProgressPrinter(validation.prompt, getattr(args, "quiet", False) or as_json)
    runner = PromptRunner(registry, cache, services)
    prompt_id = str(uuid.uuid4())
    try:
        result = runner.run(prompt_id, validation.prompt, validation.outputs, printer, extra_data)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        printer.close()
        runner.close()
    if result.status == "error":
        error = dict(result.error or {})
        summary = (f"node {error.get('node_id', '?')} ({error.get('node_type', '?')}) failed: "
                   f"{error.get('exception_type', 'error').rsplit('.', 1)[-1]}: {error.get('exception_message', '')}")
        return _fail(summary, _execution_error_document(error, verbose), as_json, 1)
    if result.status == "interrupted":
        print("interrupted", file=sys.stderr)
        return 130
    files = output_files(result.outputs, services)
    if as_json:
        print(json.dumps({"prompt_id": prompt_id, "status": "success", "files": files,
                          "outputs": result.outputs}, indent=2, default=str))
    else:
        for node_id, ui in result.outputs.items():
            if not ui.get("files"):  # PreviewText: shown, not a file
                for text in ui.get("text") or []:
                    print(f"node {node_id}: {text}", file=sys.stderr)
        for file_path in files:
            print(file_path)
    print(f"done: {len(result.executed)} node(s) executed, {len(result.cached)} cached", file=sys.stderr)
    return 0
