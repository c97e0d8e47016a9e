"""Share-pack file formats: type detection, safe YAML and Excel readers, and the YAML/Excel exporters."""

from dbrx_api.workflow.parsers.detect import FileFormat, detect_format
from dbrx_api.workflow.parsers.xlsx_reader import (
    HardenedXmlMissing,
    ensure_hardened_xml,
    parse_xlsx,
)
from dbrx_api.workflow.parsers.xlsx_writer import export_excel
from dbrx_api.workflow.parsers.yaml_reader import parse_yaml
from dbrx_api.workflow.parsers.yaml_writer import export_yaml

__all__ = [
    "FileFormat",
    "HardenedXmlMissing",
    "detect_format",
    "ensure_hardened_xml",
    "export_excel",
    "export_yaml",
    "parse_xlsx",
    "parse_yaml",
]
