"""Primitive value nodes (ComfyUI names)."""
from __future__ import annotations

from execution.declare import Boolean, Float, Int, Out, String, node

MAX_INT = 0xFFFFFFFFFFFFFFFF


@node("PrimitiveInt", category="utils/primitive", inputs=[Int("value", 0, min=-MAX_INT, max=MAX_INT)],
      outputs=[Out("INT")], display_name="Int")
def primitive_int(value: int):
    """An integer constant."""
    return (value,)


@node("PrimitiveFloat", category="utils/primitive", inputs=[Float("value", 0.0, min=-1e18, max=1e18)],
      outputs=[Out("FLOAT")], display_name="Float")
def primitive_float(value: float):
    """A floating-point constant."""
    return (value,)


@node("PrimitiveString", category="utils/primitive", inputs=[String("value", "")],
      outputs=[Out("STRING")], display_name="String")
def primitive_string(value: str):
    """A one-line string constant."""
    return (value,)


@node("PrimitiveStringMultiline", category="utils/primitive", inputs=[String("value", "", multiline=True)],
      outputs=[Out("STRING")], display_name="String (Multiline)")
def primitive_string_multiline(value: str):
    """A multi-line string constant."""
    return (value,)


@node("PrimitiveBoolean", category="utils/primitive", inputs=[Boolean("value", False)],
      outputs=[Out("BOOLEAN")], display_name="Boolean")
def primitive_boolean(value: bool):
    """A boolean constant."""
    return (value,)
