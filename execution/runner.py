"""The prompt runner: demand-driven, lazy, cached execution of a validated prompt.

No recursion on graph depth anywhere: ancestors are walked with explicit stacks and nodes are
scheduled from a ready queue with dependency counts, so cost is linear in the number of nodes.
"""
from __future__ import annotations

import asyncio
import inspect
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from execution.cache import CacheEntry, OutputCache
from execution.context import InterruptedError_, InterruptFlag, NodeContext, current_node
from execution.dynamic_inputs import expand_dynamic_inputs
from execution.events import (EventSink, Executed, ExecutionCached, ExecutionError, ExecutionInterrupted,
                              ExecutionStart, ExecutionSuccess, Executing)
from execution.graph import DynamicPrompt, ExecutionBlocker, is_link
from execution.registry import NodeRegistry
from execution.signature import SignatureBuilder


class NodeFailed(Exception):
    def __init__(self, node_id: str, error: BaseException, inputs: dict | None = None):
        super().__init__(str(error))
        self.node_id = node_id
        self.error = error
        self.inputs = inputs or {}


class CycleError(Exception):
    pass


@dataclass
class RunResult:
    status: str  # success | error | interrupted
    outputs: dict[str, dict] = field(default_factory=dict)  # node id -> ui
    messages: list[list] = field(default_factory=list)  # [event type, data] for history
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    error: dict | None = None

    @property
    def completed(self) -> bool:
        return self.status == "success"


_PENDING, _DONE = "pending", "done"


def _format_inputs(inputs: dict) -> dict:
    return {k: [repr(x)[:200] for x in (v if isinstance(v, list) else [v])] for k, v in inputs.items()}


def merge_ui(target: dict, ui: dict) -> None:
    for key, value in ui.items():
        if isinstance(value, list) and isinstance(target.get(key), list):
            target[key] = target[key] + value
        else:
            target[key] = value


class PromptRunner:
    """Runs prompts one at a time. Holds the output cache and the V1 node instances."""

    def __init__(self, registry: NodeRegistry, cache: OutputCache, services: Any = None,
                 interrupt: InterruptFlag | None = None):
        self.registry = registry
        self.cache = cache
        self.services = services
        self.interrupt = interrupt or InterruptFlag()
        self._instances: dict[tuple[str, str], Any] = {}
        self._loop = asyncio.new_event_loop()

    def run(self, prompt_id: str, prompt: dict, outputs: list[str], emit: EventSink,
            extra_data: dict | None = None) -> RunResult:
        job = _Job(self, prompt_id, prompt, outputs, emit, extra_data or {})
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no loop runs in this thread
            return self._loop.run_until_complete(job.run())
        # Called from a thread whose event loop is running (async code, a notebook, a sync
        # Playwright session): run the prompt's own loop on a helper thread instead.
        with ThreadPoolExecutor(1, thread_name_prefix="plexus-runner") as pool:
            return pool.submit(self._loop.run_until_complete, job.run()).result()

    def close(self) -> None:
        self._loop.close()

    def instance_for(self, node_id: str, schema: Any) -> Any:
        key = (node_id, schema.name)
        instance = self._instances.get(key)
        if instance is None:
            instance = self._instances[key] = schema.new_instance()
        return instance


class _Job:
    """The state of one prompt's execution."""

    def __init__(self, runner: PromptRunner, prompt_id: str, prompt: dict, outputs: list[str],
                 emit: EventSink, extra_data: dict):
        self.runner = runner
        self.registry = runner.registry
        self.prompt_id = prompt_id
        self.dyn = DynamicPrompt(prompt)
        self.targets = outputs
        self.emit_event = emit
        self.extra_data = extra_data
        self.result = RunResult("success")
        self.values: dict[str, CacheEntry] = {}
        self.signatures = SignatureBuilder(self.dyn, self.registry, runner.services, prompt_id)
        self.state: dict[str, str] = {}
        self.waiting_on: dict[str, int] = {}  # node -> unresolved dependency count
        self.waiters: dict[str, list[str]] = {}  # dependency -> nodes waiting for it
        self.ready: deque[str] = deque()
        self.tasks: dict[asyncio.Future, str] = {}
        self.expanded: dict[str, CacheEntry] = {}  # nodes waiting for their expansion's outputs
        self.used_signatures: set[str] = set()
        self.run_memo: dict = {}  # NodeContext.run_memo
        self.pending_count = 0  # staged nodes not done yet

    def emit(self, event: Any) -> None:
        if event.type in ("execution_start", "execution_cached", "execution_success", "execution_error",
                          "execution_interrupted"):
            self.result.messages.append([event.type, event.data()])
        self.emit_event(event)

    # -- driver ---------------------------------------------------------------------------------
    async def run(self) -> RunResult:
        self.emit(ExecutionStart(self.prompt_id))
        current: str | None = None
        try:
            order = self.signatures.compute(self.targets)
            self.used_signatures.update(self.signatures.of(n) for n in order)
            cached = [n for n in order if self.runner.cache.get(self.signatures.of(n)) is not None]
            self.result.cached = cached
            self.emit(ExecutionCached(self.prompt_id, nodes=cached))
            for target in self.targets:
                self.require(target)
            while self.pending_count:
                if self.ready:
                    current = self.ready.popleft()
                    if self.state.get(current) != _PENDING:
                        continue
                    if self.runner.interrupt.is_set():  # checked between nodes
                        raise InterruptedError_("Processing interrupted")
                    await self.step(current)
                    if self.tasks:
                        await asyncio.sleep(0)  # let running async nodes advance
                    continue
                if self.tasks:
                    done, _ = await asyncio.wait(list(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        current = self.tasks.pop(task)
                        self.finish_async(current, task)
                    continue
                raise CycleError(self.stuck_node())
            if self.result.status == "success":
                self.emit(ExecutionSuccess(self.prompt_id))
        except InterruptedError_:
            self.result.status = "interrupted"
            schema_name = self.dyn.get(current)["class_type"] if current and self.dyn.has(current) else None
            self.emit(ExecutionInterrupted(self.prompt_id, node_id=current, node_type=schema_name,
                                           executed=list(self.result.executed)))
        except NodeFailed as failure:
            self.fail(failure.node_id, failure.error, failure.inputs)
        except CycleError as cycle:
            node_id = str(cycle)
            self.fail(self.dyn.display_id(node_id), RuntimeError(
                f"Dependency cycle detected at node {node_id}: its inputs depend on its own output"), {})
        finally:
            for task in self.tasks:
                task.cancel()
            self.runner.cache.end_prompt(self.used_signatures)
            self.emit(Executing(self.prompt_id, node=None))
        return self.result

    def stuck_node(self) -> str:
        stuck = [n for n, s in self.state.items() if s == _PENDING]
        created = [n for n in stuck if n in self.dyn.parent_of]
        return (created or stuck)[0]

    def fail(self, node_id: str, error: BaseException, inputs: dict) -> None:
        self.result.status = "error"
        node_type = self.dyn.get(node_id)["class_type"] if self.dyn.has(node_id) else ""
        event = ExecutionError(
            self.prompt_id, node_id=self.dyn.display_id(node_id), node_type=node_type,
            executed=list(self.result.executed), exception_message=str(error),
            exception_type=f"{type(error).__module__}.{type(error).__name__}",
            traceback=traceback.format_exception(type(error), error, error.__traceback__),
            current_inputs=_format_inputs(inputs))
        self.result.error = event.data()
        self.emit(event)

    # -- dependency tracking --------------------------------------------------------------------
    def require(self, root: str) -> None:
        """Stage a node and, iteratively, every non-lazy ancestor that is not done."""
        stack = [root]
        while stack:
            node_id = stack.pop()
            if node_id in self.state:
                continue
            entry = self.runner.cache.get(self.signatures.of(node_id))
            if entry is not None:
                self.pending_count += 1  # balanced by mark_done, which also wakes its waiters
                self.mark_done(node_id, entry)
                if entry.ui is not None:
                    self.publish_ui(node_id, entry.ui)
                continue
            self.state[node_id] = _PENDING
            self.pending_count += 1
            schema = self.registry.get(self.dyn.get(node_id)["class_type"])
            specs = schema.inputs()
            deps = []
            for name, value in self.dyn.get(node_id)["inputs"].items():
                if is_link(value):
                    spec = specs.get(name)
                    if spec is not None and spec.lazy:
                        continue
                    deps.append(value[0])
            self.wait_for(node_id, deps)
            stack.extend(d for d in deps if d not in self.state)

    def wait_for(self, node_id: str, deps: list[str]) -> None:
        count = 0
        for dep in deps:
            if self.state.get(dep) == _DONE:
                continue
            self.waiters.setdefault(dep, []).append(node_id)
            count += 1
        self.waiting_on[node_id] = count
        if count == 0:
            self.ready.append(node_id)

    def mark_done(self, node_id: str, entry: CacheEntry) -> None:
        self.state[node_id] = _DONE
        self.pending_count -= 1
        self.values[node_id] = entry
        for waiter in self.waiters.pop(node_id, ()):
            self.waiting_on[waiter] -= 1
            if self.waiting_on[waiter] == 0:
                self.ready.append(waiter)

    def require_more(self, node_id: str, deps: list[str]) -> bool:
        """Ask for more inputs of a pending node (lazy inputs, expansion). True if it must wait."""
        for dep in deps:
            if dep not in self.state:
                self.require(dep)
        pending = [d for d in dict.fromkeys(deps) if self.state.get(d) != _DONE]
        self.waiting_on[node_id] = 0
        for dep in pending:
            self.waiters.setdefault(dep, []).append(node_id)
            self.waiting_on[node_id] += 1
        return bool(pending)

    # -- executing one node ---------------------------------------------------------------------
    def gather_inputs(self, node_id: str, schema: Any) -> tuple[dict[str, list], list[str]]:
        """Input lists for a node, and the names of lazy inputs not evaluated yet."""
        node = self.dyn.get(node_id)
        specs = expand_dynamic_inputs(schema.inputs(), node["inputs"])
        inputs: dict[str, list] = {}
        unevaluated: list[str] = []
        for name, value in node["inputs"].items():
            spec = specs.get(name)
            if is_link(value):
                if spec is not None and spec.raw_link:
                    inputs[name] = [value]
                    continue
                source = self.values.get(value[0])
                if source is None:
                    unevaluated.append(name)
                    inputs[name] = [None]
                    continue
                inputs[name] = source.outputs[value[1]] if value[1] < len(source.outputs) else [None]
            elif spec is not None or name not in specs:
                if spec is None:
                    continue  # unknown constants are ignored
                if isinstance(value, dict) and set(value) == {"__value__"}:
                    value = value["__value__"]
                inputs[name] = [value]
        for name, spec in specs.items():
            if spec.filled_kind is not None:  # other hidden entries are ordinary inputs
                inputs[name] = [self.hidden_value(node_id, spec.filled_kind)]
        return inputs, unevaluated

    def hidden_value(self, node_id: str, kind: str) -> Any:
        if kind == "PROMPT":
            return self.dyn.original
        if kind == "EXTRA_PNGINFO":
            return self.extra_data.get("extra_pnginfo")
        if kind == "UNIQUE_ID":
            return node_id
        if kind == "DYNPROMPT":
            return self.dyn
        return self.extra_data.get(kind.lower())

    def context(self, node_id: str, class_type: str, call_index: int = 0) -> NodeContext:
        ctx = NodeContext(node_id=node_id, display_node_id=self.dyn.display_id(node_id), class_type=class_type,
                          prompt_id=self.prompt_id, services=self.runner.services, prompt=self.dyn.original,
                          extra_data=self.extra_data, emit=self.emit, interrupt=self.runner.interrupt,
                          call_index=call_index, dynprompt=self.dyn, run_memo=self.run_memo)
        return ctx

    async def step(self, node_id: str) -> None:
        node = self.dyn.get(node_id)
        class_type = node["class_type"]
        schema = self.registry.get(class_type)
        if schema is None:
            raise NodeFailed(node_id, KeyError(f"unknown node type {class_type!r}"))
        if node_id in self.expanded:
            self.finish_expansion(node_id)
            return
        inputs, unevaluated = self.gather_inputs(node_id, schema)
        instance = self.runner.instance_for(node_id, schema)
        if unevaluated:
            needed = (await self.ask_lazy(node_id, schema, instance, inputs, unevaluated)
                      if schema.check_lazy is not None else unevaluated)
            if needed:
                links = [self.dyn.get(node_id)["inputs"][n][0] for n in needed]
                if self.require_more(node_id, links):
                    return
                inputs, unevaluated = self.gather_inputs(node_id, schema)
        self.emit(Executing(self.prompt_id, node=node_id, display_node=self.dyn.display_id(node_id)))
        results, awaitables = self.call(node_id, schema, instance, inputs)
        if awaitables:
            async def gather_all() -> list:
                return await asyncio.gather(*(a for _, a in awaitables))

            task = asyncio.ensure_future(gather_all())
            task.plexus_partial = (results, awaitables, inputs)  # type: ignore[attr-defined]
            self.tasks[task] = node_id
            return
        self.complete(node_id, schema, results, inputs)

    async def ask_lazy(self, node_id: str, schema: Any, instance: Any, inputs: dict,
                       unevaluated: list[str]) -> list[str]:
        needed: list[str] = []
        ctx = self.context(node_id, schema.name)
        for kwargs in self.call_arguments(schema, inputs):
            try:
                names = schema.check_lazy(instance, ctx, kwargs)
                if inspect.isawaitable(names):
                    names = await names
            except Exception as exc:  # noqa: BLE001
                raise NodeFailed(node_id, exc, inputs) from exc
            needed.extend(names or [])
        return [n for n in dict.fromkeys(needed) if n in unevaluated]

    @staticmethod
    def call_arguments(schema: Any, inputs: dict[str, list]) -> list[dict]:
        if schema.input_is_list:
            return [dict(inputs)]
        if not inputs:
            return [{}]
        length = max(len(v) for v in inputs.values())
        if any(len(v) == 0 for v in inputs.values()):
            return []
        return [{k: v[i] if i < len(v) else v[-1] for k, v in inputs.items()} for i in range(length)]

    def find_blocker(self, schema: Any, kwargs: dict) -> ExecutionBlocker | None:
        """A call fed a blocker is skipped; its outputs become that blocker."""
        for value in kwargs.values():
            items = value if schema.input_is_list and isinstance(value, list) else (value,)
            for item in items:
                if isinstance(item, ExecutionBlocker):
                    return item
        return None

    def call(self, node_id: str, schema: Any, instance: Any, inputs: dict) -> tuple[list, list]:
        results: list[Any] = []
        awaitables: list[tuple[int, Any]] = []
        for index, kwargs in enumerate(self.call_arguments(schema, inputs)):
            blocker = self.find_blocker(schema, kwargs)
            if blocker is not None:
                if blocker.message is not None:
                    self.fail(node_id, RuntimeError(f"Execution Blocked: {blocker.message}"), {})
                results.append(tuple(blocker for _ in schema.outputs))
                continue
            ctx = self.context(node_id, schema.name, index)
            token = current_node.set(ctx)
            try:
                value = schema.invoke(instance, ctx, kwargs)
            except InterruptedError_:
                raise
            except Exception as exc:  # noqa: BLE001
                raise NodeFailed(node_id, exc, inputs) from exc
            finally:
                current_node.reset(token)
            if inspect.isawaitable(value):
                awaitables.append((index, self._with_context(value, ctx)))
            results.append(value)
        return results, awaitables

    @staticmethod
    async def _with_context(awaitable: Any, ctx: NodeContext) -> Any:
        current_node.set(ctx)  # tasks run in a copied context, so this stays local
        return await awaitable

    def finish_async(self, node_id: str, task: asyncio.Future) -> None:
        results, awaitables, inputs = task.plexus_partial  # type: ignore[attr-defined]
        try:
            values = task.result()
        except InterruptedError_:
            raise
        except Exception as exc:  # noqa: BLE001
            raise NodeFailed(node_id, exc, inputs) from exc
        for (index, _), value in zip(awaitables, values):
            results[index] = value
        schema = self.registry.get(self.dyn.get(node_id)["class_type"])
        self.complete(node_id, schema, results, inputs)

    def complete(self, node_id: str, schema: Any, results: list, inputs: dict) -> None:
        outputs: list[list[Any]] = [[] for _ in schema.outputs]
        ui: dict | None = None
        expansion: dict[str, dict] = {}
        for value in results:
            if isinstance(value, dict) and ("result" in value or "ui" in value or "expand" in value):
                if value.get("ui") is not None:
                    ui = ui or {}
                    merge_ui(ui, value["ui"])
                if value.get("expand"):
                    expansion.update(value["expand"])
                value = value.get("result")
            if value is None:
                continue
            if not isinstance(value, (tuple, list)):
                value = (value,)
            for slot, item in enumerate(value[:len(outputs)]):
                if schema.outputs[slot].is_list and isinstance(item, list):
                    outputs[slot].extend(item)
                else:
                    outputs[slot].append(item)
        self.result.executed.append(node_id)
        entry = CacheEntry(outputs, ui)
        if expansion:
            self.expand(node_id, entry, expansion, inputs)
            return
        self.finish(node_id, entry)

    def finish(self, node_id: str, entry: CacheEntry) -> None:
        self.runner.cache.put(self.signatures.of(node_id), entry)
        if entry.ui is not None:
            self.publish_ui(node_id, entry.ui)
        self.mark_done(node_id, entry)

    def publish_ui(self, node_id: str, ui: dict) -> None:
        self.result.outputs[node_id] = ui
        self.emit(Executed(self.prompt_id, node=node_id, display_node=self.dyn.display_id(node_id), output=ui))

    # -- node expansion ---------------------------------------------------------------------------
    def expand(self, node_id: str, entry: CacheEntry, expansion: dict[str, dict], inputs: dict) -> None:
        display = self.dyn.display_id(node_id)
        for new_id, new_node in expansion.items():
            new_id = str(new_id)
            if self.dyn.has(new_id):
                raise NodeFailed(node_id, ValueError(f"expansion reuses the existing node id {new_id!r}"), inputs)
            if not isinstance(new_node, dict) or self.registry.get(new_node.get("class_type")) is None:
                kind = new_node.get("class_type") if isinstance(new_node, dict) else new_node
                raise NodeFailed(node_id, ValueError(f"expansion creates an unknown node type {kind!r}"), inputs)
            self.dyn.add_ephemeral(new_id, {"class_type": new_node["class_type"],
                                            "inputs": dict(new_node.get("inputs") or {})}, node_id, display)
        self.signatures.add(list(map(str, expansion)))
        deps = [item[0] for slot in entry.outputs for item in slot if is_link(item)]
        for new_id in expansion:
            schema = self.registry.get(expansion[new_id]["class_type"])
            if schema.output_node:
                deps.append(str(new_id))
        self.expanded[node_id] = entry
        if not self.require_more(node_id, deps):
            self.ready.append(node_id)

    def finish_expansion(self, node_id: str) -> None:
        entry = self.expanded.pop(node_id)
        resolved: list[list[Any]] = []
        for slot in entry.outputs:
            values: list[Any] = []
            for item in slot:
                if is_link(item):
                    source = self.values[item[0]]
                    values.extend(source.outputs[item[1]] if item[1] < len(source.outputs) else [])
                else:
                    values.append(item)
            resolved.append(values)
        self.finish(node_id, CacheEntry(resolved, entry.ui))
