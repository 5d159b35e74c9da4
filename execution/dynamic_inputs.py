"""ComfyUI's dynamic inputs: the DynamicCombo (a combo whose chosen option brings its own widgets)
and Autogrow (a socket that grows numbered copies as they are connected).

Both are declared once, as one input, and published in ``/object_info`` in the frontend's shape
(``COMFY_DYNAMICCOMBO_V3``, ``COMFY_AUTOGROW_V3``). In a prompt they are flat, dotted names, as
frontend 1.58.1 writes them (``"format": "png", "format.bit_depth": "8-bit"``,
``"images.image0": ["4", 0]``). Validation and the runner see the dotted names as ordinary inputs
(:func:`expand_dynamic_inputs`); a node function receives one dict per dynamic input
(:func:`nest_dynamic_values`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Sequence

from execution.schema import InputSpec

DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
AUTOGROW = "COMFY_AUTOGROW_V3"
DYNAMIC_TYPES = frozenset({DYNAMIC_COMBO, AUTOGROW})
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def DynamicCombo(name: str, options: dict[str, list[InputSpec]], *, default: str | None = None,
                 optional: bool = False, tooltip: str | None = None) -> InputSpec:
    """A combo of ``options`` keys; the chosen key's inputs appear as ``<name>.<input>``."""
    public = {k: v for k, v in (("default", default), ("tooltip", tooltip)) if v is not None}
    return InputSpec(name, DYNAMIC_COMBO, "optional" if optional else "required",
                     {**public, "_dynamic_options": dict(options)})


def Autogrow(name: str, template: InputSpec, *, prefix: str = "", min: int = 1, max: int = 100,
             names: Sequence[str] | None = None, optional: bool = False, tooltip: str | None = None) -> InputSpec:
    """``<name>.<prefix>0``, ``<name>.<prefix>1``...: the first ``min`` required, at most ``max``.
    With ``names`` (ComfyUI's ``TemplateNames``) the sockets are ``<name>.<names[i]>`` instead."""
    public = {"tooltip": tooltip} if tooltip else {}
    named = {"_names": list(names), "_max": len(names)} if names else {}
    return InputSpec(name, AUTOGROW, "optional" if optional else "required",
                     {**public, "_template": template, "_prefix": prefix, "_min": min, "_max": max, **named})


def _socket_names(spec: InputSpec) -> list[str]:
    """The member names an Autogrow can have, in order (``image0``..., or its ``names``)."""
    names = spec.options.get("_names")
    return list(names) if names else [f"{spec.options['_prefix']}{i}" for i in range(spec.options["_max"])]


def object_info_entry(spec: InputSpec, services: Any) -> list:
    """The ``[type, options]`` pair the official frontend parses for a dynamic input."""
    public = {k: v for k, v in spec.options.items() if not k.startswith("_")}
    if spec.type == DYNAMIC_COMBO:
        options = [{"key": key, "inputs": _inputs_section(inputs, services)}
                   for key, inputs in spec.options["_dynamic_options"].items()]
        return [DYNAMIC_COMBO, {**public, "options": options}]
    template: InputSpec = spec.options["_template"]
    naming = {"names": spec.options["_names"]} if spec.options.get("_names") else \
        {"prefix": spec.options["_prefix"], "max": spec.options["_max"]}
    return [AUTOGROW, {**public, "template": {
        "input": _inputs_section([template], services), **naming, "min": spec.options["_min"]}}]


def _inputs_section(inputs: Iterable[InputSpec], services: Any) -> dict:
    section: dict[str, dict] = {}
    for sub in inputs:
        section.setdefault(sub.section, {})[sub.name] = sub.object_info_entry(services)
    return section


def has_dynamic_inputs(specs: dict[str, InputSpec]) -> bool:
    return any(spec.type in DYNAMIC_TYPES for spec in specs.values())


def expand_dynamic_inputs(specs: dict[str, InputSpec], values: dict) -> dict[str, InputSpec]:
    """The flat inputs a prompt node has, given its values: a DynamicCombo becomes a plain combo
    plus the chosen option's inputs; an Autogrow becomes its numbered sockets."""
    if not has_dynamic_inputs(specs):
        return specs
    flat: dict[str, InputSpec] = {}
    for name, spec in specs.items():
        if spec.type == DYNAMIC_COMBO:
            options: dict = spec.options["_dynamic_options"]
            public = {k: v for k, v in spec.options.items() if not k.startswith("_")}
            flat[name] = InputSpec(name, "COMBO", spec.section, public,
                                   choices=list(options))
            chosen = values.get(name)
            for sub in options.get(chosen, []) if isinstance(chosen, str) else []:
                section = "optional" if spec.section == "optional" else sub.section
                flat[f"{name}.{sub.name}"] = dataclasses.replace(sub, name=f"{name}.{sub.name}", section=section,
                                                                 options=dict(sub.options))
        elif spec.type == AUTOGROW:
            template: InputSpec = spec.options["_template"]
            for index, member in enumerate(_socket_names(spec)):
                socket = f"{name}.{member}"
                section = "required" if index < spec.options["_min"] else "optional"
                flat[socket] = dataclasses.replace(template, name=socket, section=section,
                                                   options=dict(template.options))
        else:
            flat[name] = spec
    return flat


def nest_dynamic_values(specs: dict[str, InputSpec], kwargs: dict) -> dict:
    """Node-function arguments: each dynamic input's dotted values gathered into one dict.

    A DynamicCombo gives ``{<name>: key, <input>: value...}`` (ComfyUI's shape); an Autogrow gives
    ``{<prefix><n>: value}`` in socket order, connected sockets only."""
    dynamic = [spec for spec in specs.values() if spec.type in DYNAMIC_TYPES]
    if not dynamic:
        return kwargs
    result = {k: v for k, v in kwargs.items() if "." not in k}
    for spec in dynamic:
        dotted = {k[len(spec.name) + 1:]: v for k, v in kwargs.items() if k.startswith(spec.name + ".")}
        if spec.type == DYNAMIC_COMBO:
            result[spec.name] = {spec.name: kwargs.get(spec.name), **dotted}
        else:
            names = spec.options.get("_names")
            order = (lambda item: names.index(item[0]) if item[0] in names else len(names)) if names else \
                (lambda item: _socket_number(item[0]))
            ordered = sorted(dotted.items(), key=order)
            result[spec.name] = {key: value for key, value in ordered if value is not None}
    return result


def _socket_number(name: str) -> int:
    match = _TRAILING_NUMBER.search(name)
    return int(match.group(1)) if match else 0


def widget_inputs_after(spec: InputSpec, value: Any) -> list[InputSpec]:
    """The widgets a DynamicCombo set to ``value`` inserts right after itself in ``widgets_values``."""
    if spec.type != DYNAMIC_COMBO or not isinstance(value, str):
        return []
    from execution.schema import WIDGET_TYPES

    chosen = spec.options["_dynamic_options"].get(value, [])
    ordered = [s for s in chosen if s.section == "required"] + [s for s in chosen if s.section != "required"]
    return [dataclasses.replace(s, name=f"{spec.name}.{s.name}") for s in ordered
            if (s.is_combo or s.type in WIDGET_TYPES) and not s.options.get("forceInput")]
