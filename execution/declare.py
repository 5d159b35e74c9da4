"""The concise typed declaration that built-in nodes (and Plexus-native plugins) use.

Example::

    @node("ImageInvert", category="image", inputs=[In("image", "IMAGE")], outputs=[Out("IMAGE")])
    def image_invert(image):
        return (1.0 - image,)

A function that takes a parameter named ``ctx`` receives the :class:`~execution.context.NodeContext`
(progress, interrupt, services). The function returns a tuple of outputs, or any of the V1
return forms (``{"ui", "result"}``, ``{"result", "expand"}``), or an awaitable of those.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from execution.dynamic_inputs import Autogrow, DynamicCombo, nest_dynamic_values  # noqa: F401 - re-exported
from execution.schema import WIDGET_TYPES, InputSpec, NodeSchema, OutputSpec, ValidationHook

INT_MAX = 0xFFFFFFFFFFFFFFFF
NODE_SCHEMA_ATTR = "__node_schema__"


def _opts(**kwargs: Any) -> dict:
    return {k: v for k, v in kwargs.items() if v is not None and v is not False}


def Int(name: str, default: int = 0, *, min: int = -INT_MAX, max: int = INT_MAX, step: int = 1,
        control_after_generate: bool = False, optional: bool = False, lazy: bool = False,
        tooltip: str | None = None, force_input: bool = False, display: str | None = None) -> InputSpec:
    return InputSpec(name, "INT", "optional" if optional else "required", _opts(
        default=default, min=min, max=max, step=step, control_after_generate=control_after_generate,
        lazy=lazy, tooltip=tooltip, forceInput=force_input, display=display))


def Float(name: str, default: float = 0.0, *, min: float = -1e18, max: float = 1e18, step: float = 0.01,
          round: float | None = None, optional: bool = False, lazy: bool = False,
          tooltip: str | None = None, force_input: bool = False) -> InputSpec:
    return InputSpec(name, "FLOAT", "optional" if optional else "required", _opts(
        default=default, min=min, max=max, step=step, round=round, lazy=lazy, tooltip=tooltip,
        forceInput=force_input))


def String(name: str, default: str = "", *, multiline: bool = False, optional: bool = False,
           lazy: bool = False, tooltip: str | None = None, force_input: bool = False,
           dynamic_prompts: bool | None = None) -> InputSpec:
    spec = InputSpec(name, "STRING", "optional" if optional else "required", _opts(
        default=default, multiline=multiline, lazy=lazy, tooltip=tooltip, forceInput=force_input))
    spec.options["default"] = default
    if dynamic_prompts is not None:
        spec.options["dynamicPrompts"] = dynamic_prompts
    return spec


def Boolean(name: str, default: bool = False, *, label_on: str | None = None, label_off: str | None = None,
            optional: bool = False, lazy: bool = False, tooltip: str | None = None) -> InputSpec:
    spec = InputSpec(name, "BOOLEAN", "optional" if optional else "required", _opts(
        label_on=label_on, label_off=label_off, lazy=lazy, tooltip=tooltip))
    spec.options["default"] = default
    return spec


def Combo(name: str, choices: Sequence[str] | Callable[[Any], list], *, default: str | None = None,
          optional: bool = False, lazy: bool = False, tooltip: str | None = None,
          image_upload: bool = False) -> InputSpec:
    """A combo. ``choices`` may be a callable of the services, for folder listings."""
    return InputSpec(name, "COMBO_LIST", "optional" if optional else "required", _opts(
        default=default, lazy=lazy, tooltip=tooltip, image_upload=image_upload),
        choices=choices if callable(choices) else list(choices))


def In(name: str, type: str, *, optional: bool = False, lazy: bool = False, tooltip: str | None = None,
       raw_link: bool = False) -> InputSpec:
    """A socket-only input (a model, an image, a latent...). Of a widget type (a STRING list from
    another node, an INT...) it is marked ``forceInput``, as ComfyUI marks such inputs: the editors
    draw a socket, not a widget, and it owns no ``widgets_values`` slot."""
    return InputSpec(name, type, "optional" if optional else "required",
                     _opts(lazy=lazy, tooltip=tooltip, rawLink=raw_link, forceInput=type in WIDGET_TYPES))


def for_families(families: Sequence[str], spec: InputSpec) -> InputSpec:
    """``spec``, used only with models of these families. ``/object_info`` lists them as the
    input's ``families`` option; the editors hide the input while the model reaching the node is of
    another family (its loader's combo maps each model to a family: ``choice_families``)."""
    spec.options["families"] = list(families)
    return spec


def Hidden(name: str, kind: str) -> InputSpec:
    """A hidden input: ``PROMPT``, ``EXTRA_PNGINFO``, ``UNIQUE_ID`` or ``DYNPROMPT``."""
    return InputSpec(name, kind, "hidden")


def Out(type: str, name: str | None = None, *, is_list: bool = False, tooltip: str | None = None) -> OutputSpec:
    return OutputSpec(type, name or type, is_list, tooltip)


def _constants_only(memory: Callable[..., int]) -> Callable[[dict], int | None]:
    """``memory`` called with the inputs it names, when all of them are constants."""
    defaults = {name: (None if p.default is inspect.Parameter.empty else p.default)
                for name, p in inspect.signature(memory).parameters.items()}

    def estimate(inputs: dict) -> int | None:
        values = {name: inputs.get(name, default) for name, default in defaults.items()}
        if any(isinstance(v, list) or v is None for v in values.values()):  # a link: unknown until run
            return None
        return memory(**values)

    return estimate


def node(name: str, *, category: str, inputs: Sequence[InputSpec] = (), outputs: Sequence[OutputSpec] = (),
         display_name: str | None = None, description: str = "", output_node: bool = False,
         input_is_list: bool = False, not_idempotent: bool = False,
         fingerprint: Callable[..., Any] | None = None, validate: Callable[..., Any] | None = None,
         check_lazy: Callable[..., Any] | None = None, python_module: str = "nodes",
         deprecated: bool = False, experimental: bool = False,
         memory: Callable[..., int] | None = None) -> Callable[[Callable], Callable]:
    """Declare a node. Hooks take the services first: ``fingerprint(services, **constants)``,
    ``validate(services, **inputs) -> True | str`` (it replaces the built-in checks of the inputs it
    names); ``check_lazy(**inputs) -> [names still needed]``; ``memory(**inputs) -> bytes`` what
    the node will allocate, checked against the memory budget at validation (constant inputs only)."""
    specs = list(inputs)
    for spec in specs:  # "COMBO_LIST" marks the classic list form of a combo
        if spec.type == "COMBO_LIST":
            spec.type = "COMBO"

    def wrap(fn: Callable) -> Callable:
        wants_ctx = "ctx" in inspect.signature(fn).parameters
        declared = {spec.name: spec for spec in specs}

        def invoke(_instance: Any, ctx: Any, kwargs: dict) -> Any:
            kwargs = nest_dynamic_values(declared, kwargs)  # "format.bit_depth" -> format["bit_depth"]
            return fn(ctx, **kwargs) if wants_ctx else fn(**kwargs)

        hook = None
        if validate is not None:
            params = inspect.signature(validate).parameters
            covers_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            hook = ValidationHook(
                fn=lambda services, kwargs: validate(services, **kwargs),
                covers=frozenset(params) - {"services"}, covers_all=covers_all,
                wants_input_types="input_types" in params)

        schema = NodeSchema(
            name=name, outputs=tuple(outputs), input_provider=lambda: specs, invoke=invoke,
            display_name=display_name or name, category=category, description=description or (fn.__doc__ or "").strip(),
            python_module=python_module, output_node=output_node, input_is_list=input_is_list,
            not_idempotent=not_idempotent, deprecated=deprecated, experimental=experimental,
            fingerprint=(lambda services, constants: fingerprint(services, **constants)) if fingerprint else None,
            validate=hook,
            check_lazy=(lambda _inst, _ctx, kwargs: check_lazy(**kwargs)) if check_lazy else None,
            memory=_constants_only(memory) if memory else None,
        )
        setattr(fn, NODE_SCHEMA_ATTR, schema)
        return fn

    return wrap


def schemas_in(module: Any) -> list[NodeSchema]:
    """Every node declared in a module, in definition order."""
    return [getattr(obj, NODE_SCHEMA_ATTR) for obj in vars(module).values() if hasattr(obj, NODE_SCHEMA_ATTR)]
