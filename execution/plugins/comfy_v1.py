"""The second front door: ComfyUI V1 node classes adapted into the internal schema.

Covers ``INPUT_TYPES`` (required/optional/hidden, widget options, list and ``COMBO`` combos, comma
unions, ``*``), ``RETURN_TYPES``/``RETURN_NAMES``/``OUTPUT_TOOLTIPS``, ``FUNCTION`` (sync or async),
``CATEGORY``, ``DESCRIPTION``, ``OUTPUT_NODE``, ``OUTPUT_IS_LIST``, ``INPUT_IS_LIST``,
``NOT_IDEMPOTENT``, ``IS_CHANGED``, ``VALIDATE_INPUTS`` and ``check_lazy_status``.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from execution.schema import InputSpec, NodeSchema, OutputSpec, ValidationHook


def _parse_entry(name: str, entry: Any, section: str) -> InputSpec:
    if section == "hidden":
        kind = entry[0] if isinstance(entry, (tuple, list)) else entry
        return InputSpec(name, str(kind), "hidden")
    if not isinstance(entry, (tuple, list)) or not entry:
        entry = (entry,)
    kind = entry[0]
    options = dict(entry[1]) if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if isinstance(kind, (list, tuple)):
        return InputSpec(name, "COMBO", section, options, choices=list(kind))
    if kind == "COMBO":
        choices = list(options.pop("options", []) or [])
        spec = InputSpec(name, "COMBO", section, options, choices=choices)
        spec.options["_combo_form"] = True
        return spec
    return InputSpec(name, str(kind), section, options)


def parse_input_types(declared: dict) -> list[InputSpec]:
    specs: list[InputSpec] = []
    for section in ("required", "optional", "hidden"):
        entries = declared.get(section) or {}
        for name, entry in list(entries.items()):
            specs.append(_parse_entry(name, entry, section))
    return specs


def _call_with_accepted(fn: Callable, kwargs: dict) -> Any:
    """Call with the keyword arguments the function accepts (all of them with ``**kwargs``)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def _bound(cls: type, attr: str) -> Callable:
    """A class-level hook; instantiate only when it is a plain method expecting ``self``."""
    raw = inspect.getattr_static(cls, attr)
    if isinstance(raw, (classmethod, staticmethod)):
        return getattr(cls, attr)
    return getattr(cls(), attr)


def schema_from_v1(name: str, cls: type, *, display_name: str | None = None,
                   python_module: str = "custom_nodes") -> NodeSchema:
    return_types = tuple(getattr(cls, "RETURN_TYPES", ()) or ())
    return_names = tuple(getattr(cls, "RETURN_NAMES", None) or ())
    list_flags = tuple(getattr(cls, "OUTPUT_IS_LIST", None) or ())
    tooltips = tuple(getattr(cls, "OUTPUT_TOOLTIPS", None) or ())
    outputs = []
    for index, rtype in enumerate(return_types):
        type_name = "COMBO" if isinstance(rtype, (list, tuple)) else str(rtype)
        outputs.append(OutputSpec(
            type_name, return_names[index] if index < len(return_names) else type_name,
            bool(list_flags[index]) if index < len(list_flags) else False,
            tooltips[index] if index < len(tooltips) else None))
    function_name = getattr(cls, "FUNCTION", None)
    if not function_name or not hasattr(cls, function_name):
        raise TypeError(f"{name}: FUNCTION {function_name!r} is not a method of {cls.__name__}")

    def invoke(instance: Any, _ctx: Any, kwargs: dict) -> Any:
        return getattr(instance, function_name)(**kwargs)

    fingerprint = None
    if hasattr(cls, "IS_CHANGED"):
        def fingerprint(_services: Any, constants: dict) -> Any:
            return _call_with_accepted(_bound(cls, "IS_CHANGED"), constants)

    validate = None
    if hasattr(cls, "VALIDATE_INPUTS"):
        params = inspect.signature(_bound(cls, "VALIDATE_INPUTS")).parameters
        validate = ValidationHook(
            fn=lambda _services, kwargs: _call_with_accepted(_bound(cls, "VALIDATE_INPUTS"), kwargs),
            covers=frozenset(params), covers_all=any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()),
            wants_input_types="input_types" in params)

    check_lazy = None
    if hasattr(cls, "check_lazy_status"):
        def check_lazy(instance: Any, _ctx: Any, kwargs: dict) -> Any:
            return instance.check_lazy_status(**kwargs)

    return NodeSchema(
        name=name, outputs=tuple(outputs), input_provider=lambda: parse_input_types(cls.INPUT_TYPES()),
        invoke=invoke, new_instance=cls, display_name=display_name or getattr(cls, "DISPLAY_NAME", None) or name,
        category=getattr(cls, "CATEGORY", "") or "", description=getattr(cls, "DESCRIPTION", "") or "",
        python_module=python_module, output_node=bool(getattr(cls, "OUTPUT_NODE", False)),
        input_is_list=bool(getattr(cls, "INPUT_IS_LIST", False)),
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)),
        deprecated=bool(getattr(cls, "DEPRECATED", False)), experimental=bool(getattr(cls, "EXPERIMENTAL", False)),
        fingerprint=fingerprint, validate=validate, check_lazy=check_lazy, static_inputs=False)
