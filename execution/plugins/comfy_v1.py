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


_PROBE = "\x00plexus-type-probe"


def is_wildcard(kind: Any) -> bool:
    """A wildcard type as packs write it: a ``str`` subclass that equals any type (``AnyType``,
    ``IO.ANY``), detected by comparing it with a name no real type has."""
    return isinstance(kind, str) and type(kind) is not str and not (kind != _PROBE)


def type_name(kind: Any) -> str:
    return "*" if is_wildcard(kind) else str(kind)


def _parse_entry(name: str, entry: Any, section: str) -> InputSpec:
    if section == "hidden":
        if isinstance(entry, (tuple, list)):  # not a special kind: an ordinary input (see filled_kind)
            return InputSpec(name, str(entry[0]) if entry else "*", "hidden", {"_declared": tuple(entry)})
        return InputSpec(name, str(entry), "hidden")
    if not isinstance(entry, (tuple, list)) or not entry:
        entry = (entry,)
    kind = entry[0]
    options = dict(entry[1]) if len(entry) > 1 and isinstance(entry[1], dict) else {}
    if is_wildcard(kind):  # before any == test: a wildcard equals "COMBO" too
        return InputSpec(name, "*", section, options)
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


def accepted_names(fn: Callable) -> tuple[frozenset[str], bool]:
    """(parameter names, takes ``**kwargs``) as ComfyUI reads them: ``getfullargspec`` of the hook as
    found, so a classmethod's ``cls`` and a plain method's ``self`` count as names."""
    spec = inspect.getfullargspec(fn)
    return frozenset(spec.args) | frozenset(spec.kwonlyargs), spec.varkw is not None


def call_with_accepted(fn: Callable, kwargs: dict) -> Any:
    """Call with the keyword arguments the hook names (all of them with ``**kwargs``)."""
    names, takes_all = accepted_names(fn)
    return fn(**kwargs) if takes_all else fn(**{k: v for k, v in kwargs.items() if k in names})


def class_hook(cls: type, attr: str) -> Callable:
    """A V1 hook exactly as ComfyUI calls it: looked up on the class and called without an instance
    (classmethods, staticmethods and plain functions without ``self`` all work)."""
    return getattr(cls, attr)


def validation_hook(fn: Callable) -> ValidationHook | None:
    """``VALIDATE_INPUTS``; None when ComfyUI would never call it (no parameter names at all)."""
    names, takes_all = accepted_names(fn)
    if not names and not takes_all:
        return None
    return ValidationHook(fn=lambda _services, kwargs: call_with_accepted(fn, kwargs), covers=names,
                          covers_all=takes_all, wants_input_types="input_types" in names, per_input_errors=True)


def schema_from_v1(name: str, cls: type, *, display_name: str | None = None,
                   python_module: str = "custom_nodes") -> NodeSchema:
    return_types = tuple(getattr(cls, "RETURN_TYPES", ()) or ())
    return_names = tuple(getattr(cls, "RETURN_NAMES", None) or ())
    list_flags = tuple(getattr(cls, "OUTPUT_IS_LIST", None) or ())
    tooltips = tuple(getattr(cls, "OUTPUT_TOOLTIPS", None) or ())
    outputs = []
    for index, rtype in enumerate(return_types):
        output_type = "COMBO" if isinstance(rtype, (list, tuple)) else type_name(rtype)
        outputs.append(OutputSpec(
            output_type, return_names[index] if index < len(return_names) else output_type,
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
            return call_with_accepted(class_hook(cls, "IS_CHANGED"), constants)

    validate = validation_hook(class_hook(cls, "VALIDATE_INPUTS")) if hasattr(cls, "VALIDATE_INPUTS") else None

    check_lazy = None
    if hasattr(cls, "check_lazy_status"):
        def check_lazy(instance: Any, _ctx: Any, kwargs: dict) -> Any:
            return call_with_accepted(instance.check_lazy_status, kwargs)

    return NodeSchema(
        name=name, outputs=tuple(outputs), input_provider=lambda: parse_input_types(cls.INPUT_TYPES()),
        invoke=invoke, new_instance=cls, display_name=display_name or getattr(cls, "DISPLAY_NAME", None) or name,
        category=getattr(cls, "CATEGORY", "") or "", description=getattr(cls, "DESCRIPTION", "") or "",
        python_module=python_module, output_node=bool(getattr(cls, "OUTPUT_NODE", False)),
        input_is_list=bool(getattr(cls, "INPUT_IS_LIST", False)),
        not_idempotent=bool(getattr(cls, "NOT_IDEMPOTENT", False)),
        deprecated=bool(getattr(cls, "DEPRECATED", False)), experimental=bool(getattr(cls, "EXPERIMENTAL", False)),
        fingerprint=fingerprint, validate=validate, check_lazy=check_lazy, static_inputs=False)
