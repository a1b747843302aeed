"""Typed reads of JSON request fields: each failure is a 400 naming the field's path."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError

Obj = dict[str, Any]


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bad(path: str, want: str, value: Any) -> InvalidRequestError:
    return InvalidRequestError(
        f"'{path}' must be {want}, not {type_name(value)}", param=path, code="invalid_type"
    )


def req_obj(value: Any, path: str) -> Obj:
    if not isinstance(value, dict):
        raise _bad(path, "an object", value)
    return value


def req_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(path, "an array", value)
    return value


def req_str(obj: Obj, key: str, path: str | None = None, *, allow_empty: bool = False) -> str:
    path = path or key
    value = obj.get(key)
    if value is None:
        raise InvalidRequestError(
            f"missing required parameter: '{path}'", param=path, code="missing_required_parameter"
        )
    if not isinstance(value, str):
        raise _bad(path, "a string", value)
    if not value and not allow_empty:
        raise InvalidRequestError(f"'{path}' must not be empty", param=path)
    return value


def opt_str(obj: Obj, key: str, path: str | None = None) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(path or key, "a string", value)
    return value


def opt_bool(obj: Obj, key: str, path: str | None = None) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _bad(path or key, "a boolean", value)
    return value


#: the integers every JSON API takes (signed 64-bit): a larger one could not be sent on at all
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def opt_int(
    obj: Obj, key: str, path: str | None = None, *, minimum: int | None = None
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 1e20 arrives as a float: whole, but maybe past INT_MAX
        else:
            raise _bad(path or key, "an integer", value)
    low = INT_MIN if minimum is None else minimum
    if value < low:
        raise InvalidRequestError(
            f"'{path or key}' must be at least {low}", param=path or key, code="invalid_value"
        )
    if value > INT_MAX:
        raise InvalidRequestError(
            f"'{path or key}' must be at most {INT_MAX}", param=path or key, code="invalid_value"
        )
    return value


def opt_number(obj: Obj, key: str, path: str | None = None) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path or key, "a number", value)
    return value
