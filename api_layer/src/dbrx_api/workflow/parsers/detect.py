"""Size and type checks of an upload (docs/SHAREPACK.md §15): extension and content must agree."""

from __future__ import annotations

from typing import Literal

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models.errors import (
    SharePackInvalid,
    SharePackTooLarge,
    SharePackTypeUnsupported,
)
from dbrx_api.workflow.models.issues import Issue

FileFormat = Literal["yaml", "xlsx"]

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"
_EXTENSIONS: dict[str, FileFormat] = {".yaml": "yaml", ".yml": "yaml", ".xlsx": "xlsx"}
_XLS_MESSAGE = (
    ".xls (Excel 97-2003) workbooks are not supported; save the workbook as .xlsx (Excel Workbook) "
    "and upload again. Password-protected workbooks are stored in the same legacy container: remove "
    "the password before saving."
)


def file_issue(code: str, msg: str, *, input_value: str | None = None) -> Issue:
    """An error about the file as a whole (empty `loc`, no position)."""
    return Issue.at(code, "error", "", msg, input_value=input_value)


def _spaced(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def extension_of(filename: str) -> str:
    """Lower-case extension of the last path segment (`C:\\x\\Pack.YML` -> `.yml`), or ``""``."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    dot = base.rfind(".")
    return base[dot:].lower() if dot > 0 else ""


def detect_format(filename: str, data: bytes, limits: UploadSettings) -> FileFormat:
    """Check size, extension and signature; return the format to parse the bytes with.

    Raises:
        SharePackTooLarge: more than `limits.max_bytes` bytes (413 `file_too_large`).
        SharePackTypeUnsupported: unknown extension or content not matching it (415 `file_type_unsupported`),
            `.xls` name or OLE2 signature (415 `xls_not_supported`).
        SharePackInvalid: zero bytes (422 `file_empty`).
    """
    if len(data) > limits.max_bytes:
        raise SharePackTooLarge(
            [
                file_issue(
                    "file_too_large",
                    f"{_spaced(len(data))} bytes exceed the {_spaced(limits.max_bytes)}-byte limit.",
                )
            ]
        )
    extension = extension_of(filename)
    display_name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "the upload"
    if extension == ".xls" or data.startswith(OLE2_MAGIC):
        raise SharePackTypeUnsupported(
            [file_issue("xls_not_supported", _XLS_MESSAGE, input_value=display_name)],
            code="xls_not_supported",
        )
    file_format = _EXTENSIONS.get(extension)
    if file_format is None:
        raise SharePackTypeUnsupported(
            [
                file_issue(
                    "file_type_unsupported",
                    f'"{display_name}" is not a share pack; upload .yaml, .yml or .xlsx.',
                    input_value=display_name,
                )
            ]
        )
    if not data:
        raise SharePackInvalid([file_issue("file_empty", "the file is empty.")])
    is_zip = data.startswith(ZIP_MAGIC)
    if file_format == "xlsx" and not is_zip:
        raise SharePackTypeUnsupported(
            [
                file_issue(
                    "file_type_unsupported",
                    f'"{display_name}" is not an .xlsx workbook (an .xlsx file is a zip archive); '
                    "upload the workbook as saved by Excel, or a .yaml file.",
                    input_value=display_name,
                )
            ]
        )
    if file_format == "yaml" and is_zip:
        raise SharePackTypeUnsupported(
            [
                file_issue(
                    "file_type_unsupported",
                    f'"{display_name}" holds a zip archive (an Excel workbook?), not YAML text; '
                    "name an Excel workbook .xlsx.",
                    input_value=display_name,
                )
            ]
        )
    return file_format
