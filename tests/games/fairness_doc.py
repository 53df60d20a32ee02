"""Reads docs/fairness.md so that tests check the published text itself, not a copy of it."""

from __future__ import annotations

import re
from pathlib import Path

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "fairness.md"

Row = dict[str, str]


def doc_text() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def tables_by_heading() -> dict[str, list[Row]]:
    """Every Markdown table in the doc, under the title of the heading it follows.

    Cells lose their surrounding backticks; a heading holding two tables is an error, so a
    table added to the doc can't go unchecked by hiding behind another.
    """
    tables: dict[str, list[Row]] = {}
    heading = ""
    lines = doc_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and index + 1 < len(lines) and lines[index + 1].startswith("|-"):
            assert heading not in tables, f"two tables under {heading!r}"
            header = _cells(line)
            index += 2
            rows = []
            while index < len(lines) and lines[index].startswith("|"):
                cells = _cells(lines[index])
                assert len(cells) == len(header), f"ragged row under {heading!r}: {lines[index]}"
                rows.append(dict(zip(header, cells, strict=True)))
                index += 1
            tables[heading] = rows
            continue
        index += 1
    return tables


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]


def code_block(section: str, language: str) -> str:
    """The first fenced block of ``language`` after the heading titled ``section``."""
    text = doc_text()
    heading = re.search(rf"^#+ {re.escape(section)}$", text, re.MULTILINE)
    assert heading is not None, f"no heading {section!r}"
    match = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(text, heading.end())
    assert match is not None, f"no {language} block under {section!r}"
    return match.group(1)
