"""The project owns its reference: every `§` a file cites is a section of a document in `docs/`.

A citation such as `docs/API.md §1.6` must name a file in `docs/` and a numbered heading of it; a bare `API.md §1.6`
(a document that may be anywhere), a section without its document (`§1.6` alone, outside `docs/`) or a path outside
the repository is refused. Ranges and lists continue the citation before them: `docs/WORKFLOW.md §9.4-§9.6, §9.9`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs"
SCANNED_SUFFIXES = {".py", ".sql", ".yaml", ".yml", ".sh", ".md", ".toml", ".cfg"}
SKIPPED_PARTS = {".venv", ".tools", ".local", "node_modules", "__pycache__", ".git"}
# Released migrations are immutable (the runner verifies their checksums); V0001 predates docs/.
IMMUTABLE = {Path("api_layer/src/dbrx_api/workflow/db/migrations/V0001__init.sql")}
SELF = Path(__file__).resolve()  # its examples are the mistakes it looks for

CITATION = re.compile(
    r"(?P<prefix>docs/)?(?P<doc>API|SHAREPACK|WORKFLOW|EMULATOR|GOVERNANCE|databricks-wire-contract)"
    r"(?:\.md)? ?§ ?(?P<section>[0-9]+(?:\.[0-9]+)*)"
    r"(?P<more>(?:\s*(?:-|\u2013|,|and|or)\s*§ ?[0-9]+(?:\.[0-9]+)*)*)"
)
NUMBER = re.compile(r"§ ?(?P<section>[0-9]+(?:\.[0-9]+)*)")
# Sections of other standards keep their own numbering: RFC 9110 §15.5.6.
FOREIGN = re.compile(r"RFC ?[0-9]+,? ?§ ?[0-9]+(?:\.[0-9]+)*")
# The first contract's folders and notes outside the repository, by path or by name.
OUTSIDE = re.compile(
    r"\.\./(?:shared|reference|spec)/|shared/(?:spec|reference)/|engineering[ -]notes"
)
HEADING = re.compile(r"(?m)^#+\s+(?:§\s*)?(?P<number>[0-9]+(?:\.[0-9]+)*)[.\s]")


def _sections() -> dict[str, set[str]]:
    return {
        doc.name: {m.group("number") for m in HEADING.finditer(doc.read_text(encoding="utf-8"))}
        for doc in DOCS.glob("*.md")
    }


def _scanned_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "CHANGELOG.md", *DOCS.glob("*.md")]
    for folder, subfolders, names in os.walk(REPO / "api_layer"):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_PARTS]
        for name in names:
            path = Path(folder) / name
            if (
                path.suffix in SCANNED_SUFFIXES
                and path.relative_to(REPO) not in IMMUTABLE
                and path.resolve() != SELF
            ):
                files.append(path)
    return files


def test_every_citation_points_to_a_section_in_docs() -> None:
    sections = _sections()
    problems = []
    for path in _scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{path.relative_to(REPO)}:{number}"
            if OUTSIDE.search(line):
                problems.append(f"{where}: cites a document outside the repository")
            if path.parent != DOCS and path.name != "README.md":
                rest = CITATION.sub("", FOREIGN.sub("", line))
                for bare in NUMBER.finditer(rest):
                    problems.append(
                        f"{where}: '{bare.group(0)}' does not say which document in docs/"
                    )
            for match in CITATION.finditer(line):
                doc = f"{match.group('doc')}.md"
                numbers = [match.group("section")] + [
                    more.group("section") for more in NUMBER.finditer(match.group("more"))
                ]
                if path.parent == DOCS and not match.group("prefix"):
                    prefixed = True  # inside docs/ a sibling document is cited by its bare name
                else:
                    prefixed = bool(match.group("prefix"))
                if not prefixed:
                    problems.append(f"{where}: '{match.group(0)}' should cite docs/{doc}")
                else:
                    problems.extend(
                        f"{where}: {doc} has no section {number}"
                        for number in numbers
                        if number not in sections.get(doc, set())
                    )
    assert problems == []


def test_the_checker_sees_the_mistakes_it_is_for() -> None:
    sections = _sections()
    assert "1.6" in sections["API.md"]
    assert CITATION.search("see API.md §1.6") is not None
    assert CITATION.search("see API.md §1.6")["prefix"] is None  # type: ignore[index]
    assert OUTSIDE.search("(`../reference/databricks-wire-contract.md`)") is not None
    assert OUTSIDE.search("DogStatsD (engineering notes (d))") is not None
    ranged = CITATION.search("docs/WORKFLOW.md §9.4-§9.6, §9.9")
    assert ranged is not None
    assert [m.group("section") for m in NUMBER.finditer(ranged.group("more"))] == ["9.6", "9.9"]
    assert NUMBER.search(CITATION.sub("", "read (§9.2) then docs/WORKFLOW.md §9.3")) is not None
    assert NUMBER.search(FOREIGN.sub("", "Allow of a 405, RFC 9110 §15.5.6")) is None
