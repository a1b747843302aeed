"""JSON schema -> the OpenAPI-subset `Schema` object Gemini accepts in tools and structured output.

Gemini's Schema knows only: type, format, title, description, nullable, enum, items, minItems,
maxItems, properties, required, minProperties, maxProperties, minLength, maxLength, pattern,
example, anyOf, propertyOrdering, default, minimum, maximum. Anything else (`additionalProperties`,
`$schema`, `$ref`/`$defs`, `strict`, `examples`, `const`, `patternProperties`, `oneOf`, `allOf`,
`exclusiveMinimum`, ...) makes the request fail with INVALID_ARGUMENT, so it is translated where
a translation keeps the meaning and dropped otherwise.
"""

from __future__ import annotations

from typing import Any

import orjson

_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}
_REF_DEPTH = 8


def gemini_schema(
    schema: Any, defs: dict[str, Any] | None = None, depth: int = 0
) -> dict[str, Any]:
    """A JSON schema cut down to what Gemini accepts: `$ref`s inlined from `$defs`/`definitions`
    (cycles cut off after a few levels), `["x", "null"]` types and null branches turned into
    `nullable`, `oneOf` read as `anyOf`, `allOf` merged, `const` as a one-value enum, and every
    keyword outside the Schema object removed."""
    if not isinstance(schema, dict):
        return {}
    if depth == 0 or "$defs" in schema or "definitions" in schema:
        defs = {**(defs or {}), **(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    defs = defs or {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/") else None
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if not isinstance(target, dict) or depth >= _REF_DEPTH:
            return {"type": "object", **_texts(rest)}
        return gemini_schema({**target, **rest}, defs, depth + 1)
    if isinstance(schema.get("allOf"), list):
        schema = _merge_all_of(schema, defs)
    out: dict[str, Any] = _texts(schema)
    nullable = schema.get("nullable") is True
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kinds = [k for k in kind if k != "null" and isinstance(k, str)]
        if len(kinds) > 1:
            out["anyOf"] = [
                gemini_schema({**schema, "type": k, "description": None}, defs, depth)
                for k in kinds
            ]
            return {**out, "nullable": True} if nullable else out
        kind = kinds[0] if kinds else None
    if kind == "null":
        kind, nullable = "string", True
    enum = schema.get("enum")
    if "const" in schema and enum is None:
        enum = [schema["const"]]
    if isinstance(enum, list):
        nullable = nullable or None in enum
        values = [v for v in enum if v is not None]
        if values and all(isinstance(v, str) for v in values):
            out["enum"] = values
            kind = kind or "string"
        elif values:
            allowed = ", ".join(orjson.dumps(v).decode() for v in values)
            out["description"] = (
                out.get("description", "") + f" Allowed values: {allowed}."
            ).strip()
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = []
        for v in variants:
            if isinstance(v, dict) and v.get("type") == "null":
                nullable = True
            else:
                kept.append(gemini_schema(v, defs, depth))
        if len(kept) == 1:
            out = {**kept[0], **out}
        elif kept:
            out["anyOf"] = kept
    if kind is None and "anyOf" not in out:
        kind = "object" if "properties" in schema else "array" if "items" in schema else kind
    if isinstance(kind, str):
        out["type"] = kind
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(kind.lower(), ()):
            out["format"] = fmt
    if nullable:
        out["nullable"] = True
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        out["properties"] = {str(k): gemini_schema(v, defs, depth) for k, v in props.items()}
        required = [r for r in schema.get("required") or () if isinstance(r, str) and r in props]
        if required:
            out["required"] = required
        order = schema.get("propertyOrdering")
        if isinstance(order, list) and all(isinstance(o, str) and o in props for o in order):
            out["propertyOrdering"] = order
    items = schema.get("items")
    if isinstance(items, list):  # tuple form: Gemini has one item schema
        items = items[0] if items else None
    if isinstance(items, dict):
        out["items"] = gemini_schema(items, defs, depth)
    elif isinstance(kind, str) and kind.lower() == "array":
        out["items"] = {"type": "string"}  # Gemini rejects an array schema without items
    for key in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        if isinstance(schema.get(key), int) and not isinstance(schema[key], bool):
            out[key] = schema[key]
    for key in ("minimum", "maximum"):
        if isinstance(schema.get(key), (int, float)) and not isinstance(schema[key], bool):
            out[key] = schema[key]
    if isinstance(schema.get("pattern"), str):
        out["pattern"] = schema["pattern"]
    for key in ("example", "default"):
        if schema.get(key) is not None:
            out[key] = schema[key]
    return out


def _texts(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: schema[k] for k in ("title", "description") if isinstance(schema.get(k), str)}


def _merge_all_of(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`allOf` as one schema: properties and required lists united, other keywords first-wins."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    props: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[str] = list(merged.get("required") or ())
    for sub in schema["allOf"]:
        ref = sub.get("$ref") if isinstance(sub, dict) else None
        if isinstance(ref, str) and ref.startswith("#/"):
            sub = defs.get(ref.rsplit("/", 1)[-1])
        if not isinstance(sub, dict):
            continue
        props.update(sub.get("properties") or {})
        required += [r for r in sub.get("required") or () if r not in required]
        for k, v in sub.items():
            merged.setdefault(k, v)
    if props:
        merged["properties"], merged["required"] = props, required
    return merged


def function_parameters(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tool's `parameters`, or None when it takes none (Gemini refuses an empty OBJECT)."""
    out = gemini_schema(schema or {})
    if not out.get("properties"):
        return None
    out["type"] = "object"
    return out
