"""JSON Schema (draft 2020-12) of the YAML form of a share pack, generated from the canonical models.

The canonical models describe the *output* of validation; a YAML file may say the same thing in more ways
(docs/SHAREPACK.md §2.2): any scalar where text is expected, numeric text for integers, yes/no/on/off for
booleans, enums in any case, a comma-separated string for a list, the string form of an asset, aliases
(`comment`, `servicenow_ticket`, taken with the deprecated keys from the input sections of `validators/inputs.py`),
the nested per-asset schedule and the reduced DELETE shape. The generated schema is widened accordingly, so an
editor never flags a file the service accepts. The service still checks
more than the schema can say (names, URLs, cron, cross-references).
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from dbrx_api.schemas.recipients import PROPERTY_KEY, RESERVED_PROPERTY_PREFIX
from dbrx_api.workflow.models.pack import DeleteSharePack, SharePack
from dbrx_api.workflow.validators.inputs import METADATA, PIPELINE, RECIPIENT, SHARE
from dbrx_api.workflow.validators.lenient import Section

SCHEMA_ID = "urn:deltashare:sharepack"
_META_KEYS = ("title", "description", "default", "deprecated", "examples")
_SCALAR = ["string", "number", "boolean"]
_BOOLEAN_WORDS = ("true", "false", "yes", "no", "y", "n", "on", "off", "1", "0")
_LIST_TEXT = {"type": "string", "description": "Items separated by commas or line breaks."}
_DEF_PREFIX = "#/$defs/"


def _ci(word: str) -> str:
    """An ECMA-262 pattern matching `word` in any case (JSON Schema has no case-insensitive flag)."""
    parts = [f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else re.escape(c) for c in word]
    return "^" + "".join(parts) + "$"


def _ci_any(words: list[str]) -> str:
    return "^(?:" + "|".join(_ci(word)[1:-1] for word in words) + ")$"


def _split_meta(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = {key: schema[key] for key in _META_KEYS if key in schema}
    meta.update({key: value for key, value in schema.items() if key.startswith("x-")})
    body = {key: value for key, value in schema.items() if key not in meta}
    return meta, body


def _widen(schema: dict[str, Any]) -> dict[str, Any]:
    """The accepted YAML inputs for a value described by `schema` (see the module docstring)."""
    meta, body = _split_meta(schema)
    widened = _widen_body(body, meta.get("x-text-form"))
    return {**widened, **{key: value for key, value in meta.items() if not key.startswith("x-")}}


def _widen_body(body: dict[str, Any], text_form: str | None = None) -> dict[str, Any]:
    if "$ref" in body:
        return body
    if "anyOf" in body:
        return {"anyOf": [_widen({**option, "x-text-form": text_form}) for option in body["anyOf"]]}
    values = body.get("enum") or ([body["const"]] if "const" in body else None)
    if values is not None:
        words = [str(value) for value in values]
        options: list[dict[str, Any]] = [
            {"enum": words},
            {"type": "string", "pattern": _ci_any(words)},
        ]
        numbers = [int(word) for word in words if word.isdigit()]
        if numbers:
            options.append({"enum": numbers})
        return {"anyOf": options}
    kind = body.get("type")
    if kind == "string":
        return {"type": _SCALAR}
    if kind == "integer":
        return {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\s*[+-]?\d+\s*$"}]}
    if kind == "boolean":
        return {
            "anyOf": [
                {"type": "boolean"},
                {"type": "string", "pattern": _ci_any(list(_BOOLEAN_WORDS))},
                {"enum": [0, 1]},
            ]
        }
    if kind == "array":
        items = body.get("items", {})
        if items.get("$ref") == f"{_DEF_PREFIX}Asset":
            items = {
                "anyOf": [{"type": "string", "description": "Asset name (string form)."}, items]
            }
        elif "$ref" in items:
            return {"type": "array", "items": items}
        else:
            items = _widen(items)
        return {"anyOf": [{"type": "array", "items": items}, _LIST_TEXT]}
    if kind == "object" and isinstance(body.get("additionalProperties"), dict):
        return {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": [*_SCALAR, "null"]}},
                {
                    "type": "string",
                    "description": text_form
                    or "key=value pairs separated by commas or line breaks.",
                },
            ]
        }
    return body


def _widen_model(definition: dict[str, Any], section: Section | None = None) -> dict[str, Any]:
    """The widened model, with the aliases and deprecated keys its input section reads (`validators/inputs.py`)."""
    result = {key: value for key, value in definition.items() if key != "properties"}
    properties: dict[str, Any] = {}
    required = list(definition.get("required", []))
    for field, schema in definition.get("properties", {}).items():
        if schema.get("x-yaml-optional"):
            required = [key for key in required if key != field]
        properties[field] = _widen(schema)
    either: list[dict[str, Any]] = []
    for alias, target in (section.aliases if section else {}).items():
        properties[alias] = {**properties[target], "description": f"Alias of {target}."}
        if target in required:  # a required key may be written under its alias instead
            required.remove(target)
            either.append({"anyOf": [{"required": [target]}, {"required": [alias]}]})
    for key in section.deprecated if section else ():
        properties[key] = {"deprecated": True, "description": "Ignored (deprecated)."}
    result["properties"] = properties
    result["required"] = required
    if len(either) == 1:
        result.update(either[0])
    elif either:
        result["allOf"] = either
    return result


def _pipeline(definition: dict[str, Any]) -> dict[str, Any]:
    result = _widen_model(definition, PIPELINE)
    schedule = result["properties"]["schedule"]
    nested = {
        "type": "object",
        "description": "Deprecated per-asset shape {<source_asset>: {cron, timezone} | continuous}.",
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": {"anyOf": list(schedule["anyOf"])},
    }
    schedule["anyOf"] = [*schedule["anyOf"], nested]
    return result


def _recipient(definition: dict[str, Any]) -> dict[str, Any]:
    """The mapping form of `properties` (docs/SHAREPACK.md §5.4): the key grammar without the reserved prefix (any case);
    a value is a scalar, not null."""
    result = _widen_model(definition, RECIPIENT)
    prefix = _ci(RESERVED_PROPERTY_PREFIX)[1:-1]
    mapping = result["properties"]["properties"]["anyOf"][0]["anyOf"][0]
    mapping["propertyNames"] = {"pattern": f"^(?!{prefix}){PROPERTY_KEY.pattern}$"}
    mapping["additionalProperties"] = {"type": _SCALAR}
    return result


def _optional_list(items: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "array", "items": items}, {"type": "null"}]}


@cache
def _build() -> dict[str, Any]:
    full = SharePack.model_json_schema(ref_template=_DEF_PREFIX + "{model}")
    delete = DeleteSharePack.model_json_schema(ref_template=_DEF_PREFIX + "{model}")
    definitions: dict[str, Any] = {}
    for name, definition in full["$defs"].items():
        if name == "Metadata":
            definitions[name] = _widen_model(definition, METADATA)
        elif name == "Pipeline":
            definitions[name] = _pipeline(definition)
        elif name == "Recipient":
            definitions[name] = _recipient(definition)
        else:
            definitions[name] = _widen_model(definition, SHARE if name == "Share" else None)
    for name in ("RecipientRef", "ShareRef"):
        reference = _widen_model(delete["$defs"][name])
        # DELETE entries may be full entries: keys other than the names are ignored with a warning.
        reference["additionalProperties"] = True
        definitions[name] = reference
    pipelines = definitions["ShareRef"]["properties"]["pipelines"]
    pipelines["anyOf"][0]["anyOf"][0]["items"] = {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["name_prefix"],
                "properties": {"name_prefix": {"type": _SCALAR}},
            },
        ]
    }
    name_or = {"anyOf": [{"type": _SCALAR}]}
    strategy_delete = {
        "required": ["metadata"],
        "properties": {
            "metadata": {
                "type": "object",
                "required": ["strategy"],
                "properties": {"strategy": {"type": "string", "pattern": _ci("DELETE")}},
            }
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "DeltaShare share pack",
        "description": (
            "The YAML form of a DeltaShare share pack (SHAREPACK.md). Generated from the service's validation "
            "model; the service also checks names, URLs, cron expressions and cross-references."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["metadata"],
        "properties": {
            "metadata": {"$ref": f"{_DEF_PREFIX}Metadata"},
            "recipient": {"description": "Recipients this pack manages."},
            "share": {"description": "Shares this pack manages."},
        },
        "if": strategy_delete,
        "then": {
            "properties": {
                "recipient": {
                    "anyOf": [
                        *_optional_list(
                            {"anyOf": [name_or, {"$ref": f"{_DEF_PREFIX}RecipientRef"}]}
                        )["anyOf"],
                        _LIST_TEXT,
                    ]
                },
                "share": {
                    "anyOf": [
                        *_optional_list({"anyOf": [name_or, {"$ref": f"{_DEF_PREFIX}ShareRef"}]})[
                            "anyOf"
                        ],
                        _LIST_TEXT,
                    ]
                },
            }
        },
        "else": {
            "properties": {
                "recipient": _optional_list({"$ref": f"{_DEF_PREFIX}Recipient"}),
                "share": _optional_list({"$ref": f"{_DEF_PREFIX}Share"}),
            }
        },
        "$defs": definitions,
    }


def sharepack_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the YAML form of a share pack; a fresh copy on each call."""
    return copy.deepcopy(_build())
