"""The one internal node schema.

Built-in nodes (``execution.declare``) and ComfyUI V1 classes (``execution.plugins.comfy_v1``)
are both turned into a :class:`NodeSchema`. The registry, the validator, the runner and
``/object_info`` only ever see this type, so they cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# Options that the backend checks; everything else in an input's options is UI metadata.
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
HIDDEN_KINDS = frozenset({"PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "DYNPROMPT", "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG"})

ChoiceSource = Callable[[Any], list]  # services -> current options (model listings, input files)


@dataclass(slots=True)
class InputSpec:
    """One input socket or widget.

    ``type`` is a type name, a comma union (``"IMAGE,MASK"``), ``"*"`` or ``"COMBO"``.
    ``choices`` holds combo options, either a list or a callable of the services.
    """

    name: str
    type: str
    section: str = "required"  # required | optional | hidden
    options: dict = field(default_factory=dict)
    choices: list | ChoiceSource | None = None

    @property
    def is_combo(self) -> bool:
        return self.choices is not None

    @property
    def lazy(self) -> bool:
        return bool(self.options.get("lazy"))

    @property
    def raw_link(self) -> bool:
        return bool(self.options.get("rawLink"))

    @property
    def filled_kind(self) -> str | None:
        """The special hidden kind the executor fills (PROMPT, UNIQUE_ID...), else None.

        As in ComfyUI, only a hidden entry declared as the plain string counts; any other hidden
        entry (``("UNIQUE_ID",)``, ``("*",)`` loop counters) is an ordinary input.
        """
        if self.section != "hidden" or self.options.get("_declared") is not None:
            return None
        return self.type if self.type in HIDDEN_KINDS else None

    @property
    def default(self) -> Any:
        return self.options.get("default")

    def current_choices(self, services: Any) -> list:
        if self.choices is None:
            return []
        if callable(self.choices):
            return list(self.choices(services))
        return list(self.choices)

    def object_info_entry(self, services: Any) -> list:
        """The ``(TYPE, {options})`` pair exactly as ComfyUI's ``/object_info`` lists it."""
        if self.type.startswith("COMFY_"):  # DynamicCombo, Autogrow
            from execution.dynamic_inputs import object_info_entry

            return object_info_entry(self, services)
        opts = {k: v for k, v in self.options.items() if v is not None and not k.startswith("_")}
        if self.is_combo:
            choices = self.current_choices(services)
            listed_options = getattr(self.choices, "object_info_options", None)  # e.g. each model's family
            if callable(listed_options):
                opts.update(listed_options(services, choices))
            if self.options.get("_combo_form"):
                return ["COMBO", {**opts, "options": choices}]
            return [choices, opts] if opts else [choices]
        return [self.type, opts] if opts or self.options.get("_pair") else [self.type]


@dataclass(slots=True, frozen=True)
class OutputSpec:
    type: str
    name: str
    is_list: bool = False
    tooltip: str | None = None


@dataclass(slots=True)
class ValidationHook:
    """A node's own validation (``VALIDATE_INPUTS``).

    ``covers`` names the inputs whose built-in checks it replaces; ``covers_all`` is set for a
    ``**kwargs`` signature; ``wants_input_types`` disables the link type check for the node.
    """

    fn: Callable[..., Any]
    covers: frozenset[str] = frozenset()
    covers_all: bool = False
    wants_input_types: bool = False
    # ComfyUI's error shape (V1/V3 hooks): one error per input passed to the hook, none if it got none.
    per_input_errors: bool = False


@dataclass(slots=True)
class NodeSchema:
    name: str
    outputs: tuple[OutputSpec, ...]
    # Inputs are produced on demand: V1 classes compute INPUT_TYPES() each time.
    input_provider: Callable[[], list[InputSpec]]
    invoke: Callable[[Any, Any, dict], Any]  # (instance, ctx, kwargs) -> result | awaitable
    new_instance: Callable[[], Any] = lambda: None
    display_name: str = ""
    category: str = ""
    description: str = ""
    python_module: str = "nodes"
    output_node: bool = False
    input_is_list: bool = False
    not_idempotent: bool = False
    deprecated: bool = False
    experimental: bool = False
    # Hooks
    fingerprint: Callable[[Any, dict], Any] | None = None  # (services, constants) -> value
    validate: ValidationHook | None = None
    check_lazy: Callable[[Any, Any, dict], Any] | None = None  # (instance, ctx, kwargs) -> names
    # (constant inputs) -> bytes the node's result will take, or None when it depends on links
    memory: Callable[[dict], int | None] | None = None
    static_inputs: bool = True  # when True, input_provider's result may be cached
    # /object_info keys set as given (V3 classes always list display_name, output_tooltips, flags)
    info_overrides: dict = field(default_factory=dict)
    _inputs_cache: dict[str, InputSpec] | None = field(default=None, repr=False)

    def inputs(self, fresh: bool = False) -> dict[str, InputSpec]:
        """Inputs by name, in declaration order (required, optional, hidden).

        Dynamic schemas (V1 ``INPUT_TYPES``) are recomputed when ``fresh`` is asked for, as
        validation and ``/object_info`` do; the runner reuses the last result.
        """
        if self._inputs_cache is not None and (self.static_inputs or not fresh):
            return self._inputs_cache
        self._inputs_cache = {spec.name: spec for spec in self.input_provider()}
        return self._inputs_cache

    def object_info(self, services: Any) -> dict:
        sections: dict[str, dict] = {"required": {}, "optional": {}, "hidden": {}}
        order: dict[str, list[str]] = {"required": [], "optional": [], "hidden": []}
        for spec in self.inputs(fresh=True).values():
            if spec.section == "hidden":
                declared = spec.options.get("_declared")
                sections["hidden"][spec.name] = list(declared) if declared is not None else spec.type
            else:
                sections[spec.section][spec.name] = spec.object_info_entry(services)
            order[spec.section].append(spec.name)
        info_inputs = {"required": sections["required"]}
        if sections["optional"]:
            info_inputs["optional"] = sections["optional"]
        if sections["hidden"]:
            info_inputs["hidden"] = sections["hidden"]
        info = {
            "input": info_inputs,
            "input_order": {k: v for k, v in order.items() if v or k == "required"},
            "output": [o.type for o in self.outputs],
            "output_is_list": [o.is_list for o in self.outputs],
            "output_name": [o.name for o in self.outputs],
            "name": self.name,
            "display_name": self.display_name or self.name,
            "description": self.description,
            "python_module": self.python_module,
            "category": self.category,
            "output_node": self.output_node,
        }
        tooltips = [o.tooltip for o in self.outputs]
        if any(tooltips):
            info["output_tooltips"] = tooltips
        if self.deprecated:
            info["deprecated"] = True
        if self.experimental:
            info["experimental"] = True
        info.update(self.info_overrides)
        return info


def split_types(type_name: str) -> frozenset[str]:
    return frozenset(t.strip() for t in type_name.split(",") if t.strip())


def types_compatible(output_type: str, input_type: str) -> bool:
    """Link type check: ``*`` matches anything, comma unions match when they intersect."""
    if output_type == input_type or output_type == "*" or input_type == "*":
        return True
    if input_type == "COMBO" or output_type == "COMBO":
        return True
    return not split_types(output_type).isdisjoint(split_types(input_type))


def iter_widget_inputs(schema: NodeSchema) -> Iterable[InputSpec]:
    """Inputs that the editor shows as widgets, in order (they own ``widgets_values`` slots)."""
    for spec in schema.inputs().values():
        if spec.section == "hidden":
            continue
        if spec.is_combo or spec.type in WIDGET_TYPES or spec.type == "COMFY_DYNAMICCOMBO_V3":
            if not spec.options.get("forceInput"):
                yield spec
