"""JavaScript's coercions for JSON values, as JsonLogic (json-logic-js) inherits them."""

from __future__ import annotations

import math
import re
from typing import Any


def truthy(v: Any) -> bool:
    if isinstance(v, list):
        return len(v) > 0
    if isinstance(v, float) and math.isnan(v):
        return False
    return bool(v) if v is not None else False


def js_str(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        text = repr(v)
        return text.replace("e+", "e+").replace("e-0", "e-") if "e" in text else text
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return ",".join("" if x is None else js_str(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    return str(v)


_NUM = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_HEX = re.compile(r"^\s*0[xX][0-9a-fA-F]+\s*$")


def to_number(v: Any) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if v is None:
        return 0.0
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        if _NUM.match(s):
            return float(s)
        if _HEX.match(s):
            return float(int(s, 16))
        if s in ("Infinity", "+Infinity"):
            return math.inf
        if s == "-Infinity":
            return -math.inf
        return math.nan
    if isinstance(v, list):
        return to_number(js_str(v))
    return math.nan


_FLOAT_PREFIX = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Infinity)")


def parse_float(v: Any) -> float:
    """JavaScript's parseFloat: the longest numeric prefix of the value's string form, else NaN."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    m = _FLOAT_PREFIX.match(js_str(v))
    if not m:
        return math.nan
    text = m.group(1)
    return float(text.replace("Infinity", "inf"))


def _primitive(v: Any) -> Any:
    return js_str(v) if isinstance(v, list | dict) else v


def loose_eq(a: Any, b: Any) -> bool:
    """JavaScript `==` (Abstract Equality Comparison) for JSON values."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list | dict) and isinstance(b, list | dict):
        return a is b
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return to_number(a) == to_number(b)


def strict_eq(a: Any, b: Any) -> bool:
    """JavaScript `===`: same type and value (numbers of either Python type are one type)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return a is b
    return type(a) is type(b) and a == b


def less(a: Any, b: Any, or_equal: bool) -> bool:
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a <= b if or_equal else a < b
    x, y = to_number(a), to_number(b)
    return x <= y if or_equal else x < y


def whole(v: float) -> int | float:
    """Whole floats come back as ints, as JSON (and the test suite) writes them."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v
