"""Number nodes: ComfyMathExpression (a formula over a growing group of inputs a, b, c...) and
ComfyNumberConvert. The formula is evaluated by ``nodes/basics/safe_expression.py``, never ``eval``."""
from __future__ import annotations

import math
import string
from typing import Any

from execution.declare import Autogrow, In, Out, String, node
from nodes.basics.safe_expression import ExpressionError, evaluate

VALUE_NAMES = tuple(string.ascii_lowercase)  # values.a ... values.z, as ComfyUI names them


@node("ComfyMathExpression", display_name="Math Expression", category="math",
      inputs=[String("expression", "a + b", multiline=True),
              Autogrow("values", In("value", "FLOAT,INT,BOOLEAN"), names=VALUE_NAMES, min=1)],
      outputs=[Out("FLOAT"), Out("INT"), Out("BOOLEAN", "BOOL")])
def math_expression(expression: str, values: dict[str, Any] | None = None):
    """Evaluate a formula of the inputs a, b, c... (``values`` is their list); gives FLOAT, INT (truncated), BOOL."""
    values = dict(values or {})
    for name, value in values.items():
        if not isinstance(value, (bool, int, float)):
            raise ValueError(f"Math Expression: input {name} is a {type(value).__name__}, not a number or boolean")
    try:
        result = evaluate(expression, values)
    except ExpressionError as exc:
        raise ValueError(f"Math Expression {expression!r}: {exc}") from None
    if isinstance(result, float) and not math.isfinite(result):
        raise ValueError(f"Math Expression {expression!r} gave a non-finite result: {result}")
    return (float(result), int(result), bool(result))


def _number_of(value: Any) -> float | int:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("Convert Number: the string is empty")
        try:
            number: float | int = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"Convert Number: {value!r} is not a number") from None
        value = number
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, (int, float)):
        raise ValueError(f"Convert Number: cannot convert a {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"Convert Number: {value} is not finite")
    return value


@node("ComfyNumberConvert", display_name="Convert Number", category="math",
      inputs=[In("value", "INT,FLOAT,STRING,BOOLEAN")], outputs=[Out("FLOAT"), Out("INT")])
def number_convert(value: Any):
    """An INT, FLOAT, numeric STRING or BOOLEAN as FLOAT and INT (floats truncated toward zero)."""
    number = _number_of(value)
    return (float(number), int(number))
