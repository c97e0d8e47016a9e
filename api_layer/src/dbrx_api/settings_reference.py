"""Print the configuration reference (Markdown) generated from `dbrx_api.settings.Settings`.

`python -m dbrx_api.settings_reference --write` rewrites the README section between the markers; a test fails
when the README is stale.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dbrx_api.settings import ENV_PREFIX, Settings

BEGIN = "<!-- settings-reference:begin -->"
END = "<!-- settings-reference:end -->"
README = Path(__file__).resolve().parents[3] / "README.md"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is SecretStr:
        return "secret"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    return f"`{json.dumps(value)}`"


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """`(key, type, default, environment variable)` for every leaf setting."""
    result: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = field.alias if field.alias and model is not Settings else name
        dotted = f"{prefix}{key}"
        nested = _model_of(field.annotation)
        if nested is not None:
            result.extend(rows(nested, f"{dotted}."))
            continue
        env = ENV_PREFIX + dotted.replace(".", "__").upper()
        result.append((dotted, _type_name(field.annotation), _default(field), env))
    return result


def reference() -> str:
    """The Markdown table."""
    lines = [
        "| Setting | Type | Default | Environment variable |",
        "|---|---|---|---|",
        *(f"| `{k}` | {t} | {d} | `{e}` |" for k, t, d, e in rows(Settings)),
    ]
    return "\n".join(lines)


def readme_section() -> str:
    """The current README text between the markers."""
    text = README.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str]) -> int:
    """`--write` updates README.md; without it the table is printed."""
    table = reference()
    if "--write" in argv:
        text = README.read_text(encoding="utf-8")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        README.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")
        return 0
    print(table)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
