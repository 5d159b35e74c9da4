"""``main.py run WORKFLOW``: headless execution with a progress bar per node."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from execution.events import Event
from execution.registry import NodeRegistry
from execution.runner import PromptRunner
from execution.validate import validate_prompt
from execution.workflow import WorkflowError, load_any, read_png_workflow


def parse_override(text: str) -> tuple[str, str, Any]:
    """``NODE.INPUT=VALUE``; NODE is an id, a class type or a title; VALUE is JSON or a plain string."""
    target, sep, raw = text.partition("=")
    node_ref, dot, input_name = target.rpartition(".")
    if not sep or not dot or not node_ref or not input_name:
        raise WorkflowError(f"--set expects NODE.INPUT=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return node_ref, input_name, value


def apply_overrides(prompt: dict, overrides: list[str]) -> None:
    for text in overrides:
        node_ref, input_name, value = parse_override(text)
        matched = [nid for nid, node in prompt.items()
                   if nid == node_ref or node.get("class_type") == node_ref
                   or (node.get("_meta") or {}).get("title") == node_ref]
        if not matched:
            raise WorkflowError(f"--set {text!r}: no node with id, type or title {node_ref!r}")
        for nid in matched:
            prompt[nid].setdefault("inputs", {})[input_name] = value


def load_workflow_file(path: Path, registry: NodeRegistry) -> tuple[dict, dict | None, list[str]]:
    if path.suffix.lower() == ".png":
        prompt, workflow = read_png_workflow(str(path))
        if prompt:
            return prompt, workflow, []
        if workflow:
            return load_any(workflow, registry)
        raise WorkflowError(f"{path} carries no 'prompt' or 'workflow' chunk")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{path} is not valid JSON: {exc}") from exc
    return load_any(data, registry)


class ProgressPrinter:
    """Turns the event stream into one tqdm bar per executing node."""

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


def _print_outputs(outputs: dict, services: Any) -> None:
    for node_id, ui in outputs.items():
        for item in ui.get("images", []) or []:
            folder = services.paths.folder_for_type(item.get("type", "output"))
            print(f"node {node_id}: {folder / item.get('subfolder', '') / item['filename']}")
        for text in ui.get("text", []) or []:
            print(f"node {node_id}: {text}")


def run_workflow_command(args: Any, registry: NodeRegistry, services: Any, cache: Any) -> int:
    path = Path(args.workflow)
    try:
        prompt, workflow, warnings = load_workflow_file(path, registry)
        apply_overrides(prompt, args.set)
    except (OSError, WorkflowError) as exc:
        print(json.dumps({"error": {"type": "invalid_prompt", "message": str(exc), "details": str(path),
                                    "extra_info": {}}, "node_errors": {}}, indent=2))
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    validation = validate_prompt(prompt, registry, services)
    if not validation.ok:
        print(json.dumps(validation.response(), indent=2, default=str))
        return 1
    if validation.node_errors:
        print("warning: some outputs failed validation and are skipped:\n"
              + json.dumps(validation.node_errors, indent=2, default=str), file=sys.stderr)
    extra_data = {"extra_pnginfo": {"workflow": workflow}} if workflow else {}
    printer = ProgressPrinter(validation.prompt, getattr(args, "quiet", False))
    runner = PromptRunner(registry, cache, services)
    try:
        result = runner.run(str(uuid.uuid4()), validation.prompt, validation.outputs, printer, extra_data)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        printer.close()
        runner.close()
    if result.status == "error":
        error = dict(result.error or {})
        print(json.dumps({"error": {"type": "execution_error", "message": error.get("exception_message", ""),
                                    "details": error.get("node_type", ""), "extra_info": error}}, indent=2))
        return 1
    if result.status == "interrupted":
        print("interrupted", file=sys.stderr)
        return 130
    _print_outputs(result.outputs, services)
    print(f"done: {len(result.executed)} node(s) executed, {len(result.cached)} cached", file=sys.stderr)
    return 0
