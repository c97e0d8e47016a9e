"""The one way a name becomes part of a Databricks URL path (docs/API.md §1.6, §1.10).

The databricks-sdk formats path arguments into the URL as they are (`f"/api/2.1/unity-catalog/shares/{name}"`), so a
`#` would cut the path short and a `?` would start a query string: `DELETE .../shares/victim#x` deletes `victim`.
Names are validated where they enter the service; every SDK call that puts a caller-supplied name (or an id read
back from Databricks) into a URL path passes it through `path_segment` as well, which re-checks the reserved
characters and percent-encodes the rest. Services keep using the plain name for messages, responses and records.

Lives under `schemas` (next to the name rules) so that `dltshr`, `jobs`, `metrics` and `workflow` share it without
importing each other.
"""

from __future__ import annotations

from urllib.parse import quote

from dbrx_api.errors import ValidationFailed
from dbrx_api.schemas.common import reserved_name_problem


def path_segment(name: str) -> str:
    """`name` percent-encoded as one URL path segment (`quote(name, safe="")`; dots of full names stay literal).

    Raises:
        ValidationFailed: 422 `name_invalid` when `name` is empty or holds `/ ? # %`, a control character,
            whitespace at either end, or is `.`/`..` (the edge validators should have refused it already).
    """
    problem = "must not be empty" if not name else reserved_name_problem(name)
    if problem:
        message = f"name {problem}"
        raise ValidationFailed(
            f"Invalid name {name!r}: {message}; it cannot be sent in a Databricks URL path.",
            code="name_invalid",
            errors=[{"loc": ["name"], "msg": message, "type": "name_invalid"}],
        )
    return quote(name, safe="")
