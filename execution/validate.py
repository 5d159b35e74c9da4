"""Prompt validation: every error in one pass, in ComfyUI's shape.

Nothing here recurses on graph depth: ancestors are walked with an explicit stack, so a chain of
10,000 nodes validates like a chain of ten.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from execution.async_bridge import run_blocking
from execution.dynamic_inputs import expand_dynamic_inputs
from execution.graph import ExecutionBlocker, is_link
from execution.registry import NodeRegistry
from execution.schema import InputSpec, NodeSchema, types_compatible
from execution.signature import hidden_values_outside_run

@dataclass
class ValidationResult:
    prompt: dict  # the prompt with constants coerced to their declared types
    outputs: list[str] = field(default_factory=list)  # valid output nodes, to run
    error: dict | None = None  # the top-level error, when nothing can run
    node_errors: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def response(self) -> dict:
        """The 400 body (``{"error", "node_errors"}``)."""
        return {"error": self.error, "node_errors": self.node_errors}


def summarize(response: dict, limit: int = 3) -> str:
    """One line out of a validation failure (``{"error", "node_errors"}``): the first node errors."""
    parts = []
    for node_id, entry in (response.get("node_errors") or {}).items():
        for problem in entry.get("errors", []):
            parts.append(f"node {node_id} ({entry.get('class_type', '?')}): {problem.get('message', '')}"
                         + (f" ({problem['details']})" if problem.get("details") else ""))
    message = (response.get("error") or {}).get("message") or "Prompt is invalid"
    if not parts:
        details = (response.get("error") or {}).get("details")
        return f"{message}: {details}" if details else message
    return f"{message}: " + "; ".join(parts[:limit]) + (f"; and {len(parts) - limit} more" if len(parts) > limit else "")


def error(type_: str, message: str, details: str = "", extra_info: dict | None = None) -> dict:
    return {"type": type_, "message": message, "details": details, "extra_info": extra_info or {}}


def _convert(spec: InputSpec, value: Any) -> Any:
    """Coerce a constant to the input's widget type; raises ValueError/TypeError on failure."""
    kind = spec.type
    if kind == "INT":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{value} is not a finite number")
            return int(value)
        return int(value)
    if kind == "FLOAT":
        result = float(value)
        if math.isnan(result):
            raise ValueError("NaN is not a number")
        return result
    if kind == "STRING":
        if isinstance(value, (dict, list)):
            raise TypeError("expected a string")
        return str(value)
    if kind == "BOOLEAN":
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off", ""):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        return bool(value)
    return value


def _unwrap_list_constant(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


class _Validator:
    def __init__(self, prompt: dict, registry: NodeRegistry, services: Any):
        self.prompt = prompt
        self.registry = registry
        self.services = services
        self.valid: dict[str, bool] = {}
        self.errors: dict[str, list[dict]] = {}
        self._memory_budget: int | None = None

    # -- one node ---------------------------------------------------------------------------------
    def check_node(self, node_id: str) -> tuple[bool, list[str]]:
        """Check one node's own inputs. Returns (ok, linked source ids)."""
        node = self.prompt[node_id]
        schema = self.registry.get(node["class_type"])
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            inputs = node["inputs"] = {}
        errors: list[dict] = []
        sources: list[str] = []
        received_types: dict[str, str] = {}
        hook = schema.validate
        try:
            specs = expand_dynamic_inputs(schema.inputs(fresh=True), inputs)
        except Exception as exc:  # noqa: BLE001 - a plugin's INPUT_TYPES may raise
            self.errors[node_id] = [error("exception_during_validation", "Exception when validating node", str(exc))]
            return False, []

        for name, value in inputs.items():  # linked inputs that the schema does not declare (variadic)
            if name not in specs and is_link(value):
                if not self.prompt.get(value[0]) or not isinstance(self.prompt.get(value[0]), dict):
                    errors.append(self._missing_source(name, value))
                else:
                    sources.append(value[0])

        for name, spec in specs.items():
            if spec.section == "hidden":  # never checked; an ordinary hidden input may be linked
                value = inputs.get(name)
                if spec.filled_kind is None and is_link(value):
                    if isinstance(self.prompt.get(value[0]), dict):
                        sources.append(value[0])
                    else:
                        errors.append(self._missing_source(name, value))
                continue
            if name not in inputs:
                if spec.section == "required":
                    errors.append(error("required_input_missing", "Required input is missing", name,
                                        self._input_info(spec, name)))
                continue
            value = inputs[name]
            if is_link(value):
                source = self.prompt.get(value[0])
                if not isinstance(source, dict):
                    errors.append(self._missing_source(name, value))
                    continue
                source_schema = self.registry.get(source.get("class_type"))
                slot = value[1]
                if source_schema is None or not (0 <= slot < len(source_schema.outputs)):
                    errors.append(error("bad_linked_input", "Bad linked input, output slot does not exist",
                                        f"{name}, slot {slot} of node {value[0]}", self._input_info(spec, name)))
                    continue
                received = source_schema.outputs[slot].type
                received_types[name] = received
                if not (hook and hook.wants_input_types) and not types_compatible(received, spec.type):
                    errors.append(error(
                        "return_type_mismatch", "Return type mismatch between linked nodes",
                        f"{name}, received_type({received}) mismatch input_type({spec.type})",
                        self._input_info(spec, name, received_type=received, linked_node=value)))
                sources.append(value[0])
                continue
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)):
                if isinstance(value[0], str):  # ["id", "0"]: a malformed link
                    errors.append(error("bad_linked_input",
                                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                        name, self._input_info(spec, name, received_value=value)))
                    continue
            value = _unwrap_list_constant(value)
            try:
                value = _convert(spec, value)
            except (ValueError, TypeError, OverflowError) as exc:
                errors.append(error("invalid_input_type", f"Failed to convert an input value to a {spec.type} value",
                                    f"{name}, {value!r}, {exc}",
                                    self._input_info(spec, name, received_value=value, exception_message=str(exc))))
                continue
            inputs[name] = value
            if hook and (hook.covers_all or name in hook.covers):
                continue
            errors.extend(self._range_errors(spec, name, value))

        if hook is not None:
            errors.extend(self._custom(node_id, schema, inputs, specs, received_types))
        if schema.memory is not None and not errors:
            errors.extend(self._memory_errors(schema, inputs))
        if errors:
            self.errors.setdefault(node_id, []).extend(errors)
        return not errors, sources

    @staticmethod
    def _missing_source(name: str, value: list) -> dict:
        return error("bad_linked_input", "Bad linked input, the linked node does not exist",
                     f"{name}, node {value[0]!r} is not in the prompt",
                     {"input_name": name, "linked_node": value})

    def _input_info(self, spec: InputSpec, name: str, **more: Any) -> dict:
        """``extra_info`` of an input error; built only when there is an error to report."""
        config = [spec.type] if callable(spec.choices) else spec.object_info_entry(self.services)
        return {"input_name": name, "input_config": config, **more}

    def _range_errors(self, spec: InputSpec, name: str, value: Any) -> Iterable[dict]:
        if spec.type in ("INT", "FLOAT"):
            low, high = spec.options.get("min"), spec.options.get("max")
            if low is not None and value < low:
                yield error("value_smaller_than_min", f"Value {value} smaller than min of {low}", name,
                            self._input_info(spec, name, received_value=value))
            if high is not None and value > high:
                yield error("value_bigger_than_max", f"Value {value} bigger than max of {high}", name,
                            self._input_info(spec, name, received_value=value))
        elif spec.is_combo:
            choices = spec.current_choices(self.services)
            if isinstance(value, list) or value not in choices:
                shown = choices if len(choices) <= 20 else choices[:20] + ["..."]
                details = f"{name}: '{value}' not in {shown}"
                missing_hint = getattr(spec.choices, "missing_hint", None)  # model listings say where to put it
                if missing_hint is not None and not isinstance(value, list):
                    details += f"; {missing_hint(self.services)}"
                yield error("value_not_in_list", "Value not in list", details,
                            self._input_info(spec, name, received_value=value))

    def _memory_errors(self, schema: NodeSchema, inputs: dict) -> list[dict]:
        """Refuse, before anything is allocated, a result larger than the memory budget."""
        budget_of = getattr(self.services, "tensor_budget_bytes", None)
        needed = schema.memory(inputs)
        if budget_of is None or needed is None:
            return []
        affordable = getattr(self.services, "always_affordable", None)
        if affordable is not None and affordable(needed):
            return []  # no budget to read for it (reading free memory costs more than a small result)
        budget = self._memory_budget
        if budget is None:  # read once per validation (psutil reads /proc), not once per node
            budget = self._memory_budget = budget_of()
        if needed <= budget:
            return []
        return [error("memory_budget_exceeded", "The node would allocate more memory than the budget",
                      f"{needed / (1 << 30):.2f} GB needed, {budget / (1 << 30):.2f} GB allowed "
                      f"(--max-tensor-memory GB; default: half the free memory)", {})]

    def _custom(self, node_id: str, schema: NodeSchema, inputs: dict, specs: dict,
                received_types: dict) -> list[dict]:
        """The node's own validation hook, given the constants it names (linked inputs are None)."""
        hook = schema.validate
        kwargs = {}
        for name, value in inputs.items():
            if is_link(value):
                continue
            if hook.covers_all or name in hook.covers:
                kwargs[name] = value
        for name in hook.covers:  # named-but-absent parameters receive None, as V1 nodes expect
            if name != "input_types" and name in specs and name not in kwargs and not hook.covers_all:
                kwargs.setdefault(name, None)
        for name, value in hidden_values_outside_run(schema, node_id).items():
            if hook.covers_all or name in hook.covers:
                kwargs[name] = value
        if hook.wants_input_types:
            kwargs["input_types"] = received_types
        try:
            result = hook.fn(self.services, kwargs)
            if inspect.isawaitable(result):  # ``async def VALIDATE_INPUTS`` is awaited
                result = run_blocking(lambda: result)
        except Exception as exc:  # noqa: BLE001
            return [error("exception_during_validation", "Exception when validating node", str(exc))]
        if result is True or isinstance(result, ExecutionBlocker):
            return []
        if not hook.per_input_errors:
            return [error("custom_validation_failed", "Custom validation failed for node", f"{result}", {})]
        # ComfyUI's shape: one error per input passed to the hook (so a hook given none cannot fail).
        suffix = "" if result is False else f" - {result}"
        return [error("custom_validation_failed", "Custom validation failed for node", f"{name}{suffix}",
                      {"input_name": name}) for name in kwargs]

    # -- the whole prompt -------------------------------------------------------------------------
    def check_output(self, output_id: str) -> bool:
        """Validate an output and all its ancestors (iteratively). Cycles are errors."""
        if output_id in self.valid:
            return self.valid[output_id]
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        # (node, None) visits a node; (node, its sources) finishes it after the sources are done.
        stack: list[tuple[str, list[str] | None]] = [(output_id, None)]
        own_ok: dict[str, bool] = {}
        while stack:
            node_id, sources = stack.pop()
            if sources is None:
                if node_id in self.valid:
                    continue
                if state.get(node_id) == 1:
                    continue
                ok, sources = self.check_node(node_id)
                own_ok[node_id] = ok
                state[node_id] = 1
                stack.append((node_id, sources))
                for source_id in sources:
                    if source_id in self.valid:
                        continue
                    if state.get(source_id) == 1:
                        self._cycle(source_id, node_id)
                        own_ok[node_id] = False
                        continue
                    stack.append((source_id, None))
            else:
                ok = own_ok[node_id] and all(self.valid.get(s, False) for s in sources)
                self.valid[node_id] = ok
                state[node_id] = 2
        return self.valid[output_id]

    def _cycle(self, source_id: str, node_id: str) -> None:
        self.errors.setdefault(node_id, []).append(error(
            "dependency_cycle", "Dependency cycle detected",
            f"node {node_id} depends on node {source_id}, which depends on node {node_id}"))


def validate_prompt(prompt: Any, registry: NodeRegistry, services: Any = None,
                    partial_execution_targets: list[str] | None = None) -> ValidationResult:
    if not isinstance(prompt, dict) or not prompt:
        kind = "no_prompt" if not prompt else "invalid_prompt"
        return ValidationResult({}, error=error(kind, "No prompt provided" if not prompt else
                                               "The prompt must be an object of nodes", ""))
    # A copy with each node's own inputs dict; inputs that are not an object count as none given.
    prompt = {str(k): (dict(v, inputs=dict(v["inputs"]) if isinstance(v.get("inputs"), dict) else {})
                       if isinstance(v, dict) else v) for k, v in prompt.items()}
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return ValidationResult(prompt, error=error(
                "invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'", {"node_id": node_id}))
        if not isinstance(node["class_type"], str) or node["class_type"] not in registry:
            return ValidationResult(prompt, error=error(
                "invalid_prompt", f"Cannot execute because node {node['class_type']} does not exist.",
                f"Node ID '#{node_id}'", {"node_id": node_id, "class_type": node["class_type"]}))

    outputs = [nid for nid, node in prompt.items() if registry.get(node["class_type"]).output_node]
    if partial_execution_targets is not None:
        targets = [str(t) for t in partial_execution_targets]
        unknown = [t for t in targets if t not in prompt]
        if unknown:
            return ValidationResult(prompt, error=error(
                "invalid_prompt", "partial_execution_targets names nodes that are not in the prompt",
                ", ".join(unknown)))
        outputs = targets
    if not outputs:
        return ValidationResult(prompt, error=error("prompt_no_outputs", "Prompt has no outputs", ""))

    validator = _Validator(prompt, registry, services)
    good: list[str] = []
    failed: list[str] = []
    for output_id in outputs:
        (good if validator.check_output(output_id) else failed).append(output_id)

    node_errors: dict[str, dict] = {}
    if failed:
        dependents = _dependent_outputs(prompt, failed, set(validator.errors))
        for node_id, errs in validator.errors.items():
            node_errors[node_id] = {"errors": errs, "dependent_outputs": dependents.get(node_id, []),
                                    "class_type": prompt[node_id]["class_type"]}
    if good:
        return ValidationResult(prompt, outputs=good, node_errors=node_errors)
    details = "\n".join(
        f"{node_errors[n]['class_type']} {n}: " + "; ".join(f"{e['message']}: {e['details']}" for e in v["errors"])
        for n, v in node_errors.items())
    return ValidationResult(prompt, node_errors=node_errors, error=error(
        "prompt_outputs_failed_validation", "Prompt outputs failed validation", details))


def _dependent_outputs(prompt: dict, outputs: list[str], bad_nodes: set[str]) -> dict[str, list[str]]:
    """For each node with errors, the failed outputs that depend on it."""
    result: dict[str, list[str]] = {}
    for output_id in outputs:
        seen = {output_id}
        stack = [output_id]
        while stack:
            node_id = stack.pop()
            if node_id in bad_nodes:
                result.setdefault(node_id, []).append(output_id)
            node = prompt.get(node_id)
            if not isinstance(node, dict):
                continue
            for value in node.get("inputs", {}).values():
                if is_link(value) and value[0] not in seen and value[0] in prompt:
                    seen.add(value[0])
                    stack.append(value[0])
    return result
