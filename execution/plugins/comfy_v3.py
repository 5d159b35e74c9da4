"""The third front door: ComfyUI V3 node classes (``comfy_api.latest.io.ComfyNode``) adapted into the
internal schema, beside the V1 adapter.

Duck-typed on what ``compat/comfy_api`` builds (no import of it): ``cls.GET_SCHEMA()`` gives the
finalized schema (inputs with ``id``/``optional``/``lazy``/``raw_link``/``get_io_type()``/``as_dict()``,
outputs, hidden members, flags); ``cls.plexus_clone(**hidden)`` gives the locked per-call clone on
which every hook runs with ``cls.hidden`` filled, as ComfyUI runs them. Hidden values are never
keyword arguments here; their ``/object_info`` entries are 1-element lists, so the executor does not
fill them as inputs and, as in ComfyUI, the node id does not join the cache key.
"""
from __future__ import annotations

import inspect
from enum import Enum
from typing import Any

from execution.dynamic_inputs import DYNAMIC_COMBO, DYNAMIC_TYPES, Autogrow, DynamicCombo, nest_dynamic_values
from execution.graph import ExecutionBlocker
from execution.plugins.comfy_v1 import accepted_names, type_name
from execution.schema import InputSpec, NodeSchema, OutputSpec, ValidationHook

WIDGET_IO_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


def is_v3_class(cls: Any) -> bool:
    return isinstance(cls, type) and callable(getattr(cls, "define_schema", None)) \
        and callable(getattr(cls, "GET_SCHEMA", None))


def overrides(cls: type, name: str) -> bool:
    """True when the hook comes from the pack's class, not from the ``ComfyNode`` placeholders."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return not klass.__dict__.get("_PLEXUS_V3_BASE", False)
    return False


def json_safe(value: Any) -> Any:
    """Options as /object_info can send them: objects with ``as_dict`` become dicts, enums their
    values, anything else that JSON cannot hold its ``str`` (newer option types must not break the route)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, Enum):
        return json_safe(value.value)
    for plain in (bool, int, float, str):  # subclasses (V3 type names) as their plain value
        if isinstance(value, plain):
            return plain(value) if plain is not str else str.__str__(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if callable(getattr(value, "as_dict", None)):
        return json_safe(value.as_dict())
    return str(value)


def _input_spec(item: Any) -> InputSpec:
    section = "optional" if item.optional else "required"
    kind = str.__str__(item.get_io_type())  # a plain str: V3 types compare equal to "*"
    if kind in DYNAMIC_TYPES:
        return _dynamic_spec(item, kind)
    options = json_safe(dict(item.as_dict()))
    if kind == "COMBO":
        choices = list(options.pop("options", []) or [])
        spec = InputSpec(item.id, "COMBO", section, options, choices=choices)
        spec.options["_combo_form"] = True
        return spec
    if kind == "COMFY_MATCHTYPE_V3":  # the frontend resolves the concrete type; links are checked
        kind = (options.get("template") or {}).get("allowed_types") or "*"  # against the allowed ones
    options["_pair"] = True  # V3 inputs are always [type, {options}]
    return InputSpec(item.id, kind, section, options)


def _nested_spec(item: Any, owner: str) -> InputSpec:
    if str.__str__(item.get_io_type()) in DYNAMIC_TYPES:
        raise ValueError(f"input {owner!r}: a dynamic input inside a dynamic input ({item.id!r}) is not "
                         "supported in Plexus (one level of DynamicCombo/Autogrow is)")
    return _input_spec(item)


def _dynamic_spec(item: Any, kind: str) -> InputSpec:
    """``io.DynamicCombo.Input``/``io.Autogrow.Input`` as the core's dynamic inputs; the other
    options the pack set (``display_name``, ``extra_dict``...) stay in /object_info."""
    own = {k: v for k, v in json_safe(dict(item.as_dict())).items() if k not in ("options", "template")}
    if kind == DYNAMIC_COMBO:
        options = {option.key: [_nested_spec(sub, item.id) for sub in option.inputs]
                   for option in item.dynamic_options}
        spec = DynamicCombo(item.id, options, optional=bool(item.optional))
    else:
        template = item.template
        socket = _nested_spec(template.input, item.id)
        prefix = getattr(template, "prefix", None)  # TemplatePrefix; TemplateNames has names instead
        # an optional template makes every socket optional, whatever ``min`` says (ComfyUI's rule)
        required = 0 if socket.section == "optional" else template.min
        spec = Autogrow(item.id, socket, prefix=prefix or "", min=required, max=len(template.names),
                        names=None if prefix is not None else template.names, optional=bool(item.optional))
    spec.options.update(own)
    return spec


def _output_spec(item: Any) -> OutputSpec:
    io_type = item.get_io_type()
    kind = "COMBO" if isinstance(io_type, list) else type_name(io_type)
    if kind == "COMFY_MATCHTYPE_V3":
        kind = "*"
    return OutputSpec(kind, item.display_name or kind, bool(item.is_output_list), item.tooltip)


def _hidden_values(ctx: Any) -> dict[str, Any]:
    extra = ctx.extra_data if ctx is not None else {}
    return {"unique_id": ctx.node_id if ctx is not None else None,
            "prompt": ctx.prompt if ctx is not None else None,
            "extra_pnginfo": extra.get("extra_pnginfo"), "dynprompt": getattr(ctx, "dynprompt", None),
            "auth_token_comfy_org": extra.get("auth_token_comfy_org"),
            "api_key_comfy_org": extra.get("api_key_comfy_org")}


class _Clones:
    """Per-call class clones with ``cls.hidden`` filled (only the declared members). One with no
    hidden values (nothing declared, or a hook outside a run) is made once and shared: it is
    locked, so no call can leave state on it."""

    def __init__(self, cls: type, declared: list[str]):
        self.cls = cls
        self.declared = declared
        self._bare: type | None = None

    def get(self, ctx: Any = None) -> type:
        if ctx is None or not self.declared:
            if self._bare is None:
                self._bare = self.cls.plexus_clone()
            return self._bare
        values = _hidden_values(ctx)
        return self.cls.plexus_clone(**{name: values.get(name) for name in self.declared})


def normalize_output(value: Any, output_count: int, enable_expand: bool) -> Any:
    """A V3 return value (``NodeOutput``, tuple, None, a bare blocker) in the executor's V1 form."""
    if isinstance(value, ExecutionBlocker):
        return tuple(value for _ in range(output_count))
    if value is None:
        return None
    if isinstance(value, tuple):
        return value
    if isinstance(value, dict):  # the legacy dict form
        return value
    result: dict[str, Any] = {}
    values = tuple(getattr(value, "values", ()) or ())
    blocked = getattr(value, "block_execution", None)
    if blocked is not None:
        values = tuple(ExecutionBlocker(blocked) for _ in range(output_count))
    result["result"] = values
    ui = getattr(value, "ui", None)
    if ui is not None:
        result["ui"] = ui.as_dict() if hasattr(ui, "as_dict") else dict(ui)
    expand = getattr(value, "expand", None)
    if expand:
        if not enable_expand:
            raise RuntimeError("this node returned NodeOutput(expand=...) but its schema does not set enable_expand=True")
        result["expand"] = expand
    return result


def schema_from_v3(cls: type, *, display_name: str | None = None, python_module: str = "custom_nodes") -> NodeSchema:
    v3 = cls.GET_SCHEMA()
    declared_hidden = [getattr(member, "name", str(member)) for member in v3.hidden]
    hidden_specs = [InputSpec(name, str(getattr(member, "value", member)), "hidden",
                              {"_declared": (str(getattr(member, "value", member)),)})
                    for name, member in zip(declared_hidden, v3.hidden)]
    outputs = tuple(_output_spec(o) for o in v3.outputs)
    clones = _Clones(cls, declared_hidden)

    def current_inputs() -> list[InputSpec]:  # define_schema may list files: re-read like ComfyUI does
        return [_input_spec(item) for item in cls.GET_SCHEMA().inputs] + hidden_specs

    # Also checks the declaration once, at registration. Nesting reads only the dynamic inputs' names,
    # kinds and socket names, fixed when the node is declared: no schema is rebuilt per call.
    first_inputs = [_input_spec(item) for item in v3.inputs] + hidden_specs
    dynamic_specs = {spec.name: spec for spec in first_inputs if spec.type in DYNAMIC_TYPES}

    def nested(kwargs: dict) -> dict:
        """A dynamic input's dotted values (``format.bit_depth``) as one dict, ComfyUI's shape."""
        return nest_dynamic_values(dynamic_specs, kwargs) if dynamic_specs else kwargs

    defines_execute = overrides(cls, "execute")  # checked when run, as ComfyUI's base class does

    def invoke(_instance: Any, ctx: Any, kwargs: dict) -> Any:
        if not defines_execute:
            raise TypeError(f"V3 node {cls.__name__} does not define execute()")
        value = clones.get(ctx).execute(**nested(kwargs))
        if inspect.isawaitable(value):
            async def finish() -> Any:
                return normalize_output(await value, len(outputs), v3.enable_expand)
            return finish()
        return normalize_output(value, len(outputs), v3.enable_expand)

    fingerprint = None
    if overrides(cls, "fingerprint_inputs"):
        def fingerprint(_services: Any, constants: dict) -> Any:
            return clones.get().fingerprint_inputs(**nested(constants))

    validate = None
    if overrides(cls, "validate_inputs"):
        names, takes_all = accepted_names(cls.validate_inputs)

        def run_validation(_services: Any, kwargs: dict) -> Any:
            hook = clones.get().validate_inputs
            values = nested(kwargs)
            return hook(**values) if takes_all else hook(**{k: v for k, v in values.items() if k in names})

        validate = ValidationHook(fn=run_validation, covers=names, covers_all=takes_all,
                                  wants_input_types="input_types" in names, per_input_errors=True)

    check_lazy = None
    if overrides(cls, "check_lazy_status"):
        def check_lazy(_instance: Any, ctx: Any, kwargs: dict) -> Any:
            return clones.get(ctx).check_lazy_status(**nested(kwargs))

    info_overrides = {"display_name": display_name if display_name is not None else v3.display_name,
                      "output_tooltips": [o.tooltip for o in outputs], "deprecated": bool(v3.is_deprecated),
                      "experimental": bool(v3.is_experimental), "api_node": bool(v3.is_api_node)}
    return NodeSchema(
        name=v3.node_id, outputs=outputs, input_provider=current_inputs, invoke=invoke, static_inputs=False,
        new_instance=cls, display_name=v3.display_name or v3.node_id, category=v3.category or "",
        description=v3.description or "", python_module=python_module, output_node=bool(v3.is_output_node),
        input_is_list=bool(v3.is_input_list), not_idempotent=bool(v3.not_idempotent),
        deprecated=bool(v3.is_deprecated), experimental=bool(v3.is_experimental), fingerprint=fingerprint,
        validate=validate, check_lazy=check_lazy, info_overrides=info_overrides)
