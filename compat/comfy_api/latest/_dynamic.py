"""ComfyUI's dynamic V3 inputs (``io.DynamicCombo``, ``io.Autogrow``), written from their documented
behaviour and the frontend's ``COMFY_DYNAMICCOMBO_V3``/``COMFY_AUTOGROW_V3`` node-def shape.

- ``DynamicCombo.Input(id, options=[DynamicCombo.Option(key, [inputs...]), ...])``: a combo whose
  chosen option brings its own inputs. ``execute`` receives one dict, ``{id: key, <input>: value...}``.
- ``Autogrow.Input(id, template=Autogrow.TemplatePrefix(input, prefix, min=1, max=10))`` or
  ``template=Autogrow.TemplateNames(input, names, min=1)``: numbered (or named) copies of one input
  that grow as they are connected. ``execute`` receives ``{<prefix><n>: value...}``, connected only.

``execution.plugins.comfy_v3`` maps both onto ``execution.dynamic_inputs`` (prompts use dotted names,
``"format.bit_depth"``, ``"images.image0"``). Options inside options (nesting) are refused at
registration with a clear error: the core expands one level.
"""
from __future__ import annotations

import copy
from typing import Any

from comfy_api.latest._io import ComfyTypeI, Input, WidgetInput, comfytype

AUTOGROW_MAX_NAMES = 100  # ComfyUI's cap on the sockets one Autogrow may have


class DynamicInput(Input):
    """Base of inputs that expand into other inputs once the prompt's values are known."""


def _section_dict(inputs: list[Input]) -> dict:
    """``{"required": {id: [type, options]}, "optional": {...}}`` as ComfyUI nests it in a node def."""
    sections: dict[str, dict] = {}
    for item in inputs:
        sections.setdefault("optional" if item.optional else "required", {})[item.id] = \
            [str.__str__(item.get_io_type()), item.as_dict()]
    return sections


@comfytype("COMFY_DYNAMICCOMBO_V3")
class DynamicCombo(ComfyTypeI):
    Type = dict

    class Option:
        """One choice of a DynamicCombo: its ``key`` (the combo value) and the inputs it brings."""

        def __init__(self, key: str, inputs: list[Input] | None = None):
            self.key = key
            self.inputs = list(inputs or [])

        def as_dict(self) -> dict:
            return {"key": self.key, "inputs": _section_dict(self.inputs)}

    class Input(DynamicInput):
        def __init__(self, id: str, options: list[DynamicCombo.Option], display_name: str | None = None,
                     optional: bool = False, tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict | None = None, **more: Any):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
            self.dynamic_options = list(options)
            keys = [option.key for option in self.dynamic_options]
            if not keys or len(set(keys)) != len(keys):
                raise ValueError(f"DynamicCombo {id!r}: options need unique keys, got {keys}")

        def options(self) -> dict:
            return {"options": [option.as_dict() for option in self.dynamic_options]}

        def get_all(self) -> list[Input]:
            return [self] + [item for option in self.dynamic_options for item in option.inputs]


class _AutogrowTemplate:
    """The input an Autogrow copies. A widget becomes a socket (``force_input``), as in ComfyUI."""

    def __init__(self, input: Input, names: list[str], min: int):
        if isinstance(input, DynamicInput):
            raise ValueError("an Autogrow template cannot itself be a dynamic input")
        if min < 0:
            raise ValueError(f"Autogrow min must be >= 0, got {min}")
        self.input = copy.copy(input)
        if isinstance(self.input, WidgetInput):
            self.input.force_input = True
        self.names = list(names)[:AUTOGROW_MAX_NAMES]
        self.min = min

    def as_dict(self) -> dict:
        return {"input": _section_dict([self.input]), "min": self.min}

    def get_all(self) -> list[Input]:
        copies = []
        for name in self.names:
            socket = copy.copy(self.input)
            socket.id = name
            copies.append(socket)
        return copies


@comfytype("COMFY_AUTOGROW_V3")
class Autogrow(ComfyTypeI):
    Type = dict
    _MaxNames = AUTOGROW_MAX_NAMES

    class TemplatePrefix(_AutogrowTemplate):
        """Sockets ``<prefix>0`` .. ``<prefix><max-1>``; the first ``min`` are required."""

        def __init__(self, input: Input, prefix: str, min: int = 1, max: int = 10):
            if not 1 <= max <= AUTOGROW_MAX_NAMES:
                raise ValueError(f"Autogrow max must be between 1 and {AUTOGROW_MAX_NAMES}, got {max}")
            super().__init__(input, [f"{prefix}{i}" for i in range(max)], min)
            self.prefix = prefix
            self.max = max

        def as_dict(self) -> dict:
            return {**super().as_dict(), "prefix": self.prefix, "max": self.max}

    class TemplateNames(_AutogrowTemplate):
        """Sockets with the given names, in order; the first ``min`` are required."""

        def __init__(self, input: Input, names: list[str], min: int = 1):
            if not names:
                raise ValueError("Autogrow.TemplateNames needs at least one name")
            super().__init__(input, names, min)

        def as_dict(self) -> dict:
            return {**super().as_dict(), "names": self.names}

    class Input(DynamicInput):
        def __init__(self, id: str, template: _AutogrowTemplate, display_name: str | None = None,
                     optional: bool = False, tooltip: str | None = None, lazy: bool | None = None,
                     extra_dict: dict | None = None, **more: Any):
            super().__init__(id, display_name, optional, tooltip, lazy, extra_dict, **more)
            if not isinstance(template, _AutogrowTemplate):
                raise TypeError(f"Autogrow {id!r}: template must be Autogrow.TemplatePrefix or TemplateNames")
            self.template = template

        def options(self) -> dict:
            return {"template": self.template.as_dict()}

        def get_all(self) -> list[Input]:
            return [self] + self.template.get_all()


__all__ = ["DynamicInput", "DynamicCombo", "Autogrow"]
