"""``python -m bench [--only ...] [--rounds N] [--seconds S]`` runs the suite of issue 10
(what ``make bench`` does; see bench/suite.py and docs/performance.md);
``python -m bench NAME [options]`` runs one of the older standalone benchmarks, e.g.
``python -m bench sse_fanout --help``."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import in_process, ledger_postings, sse_fanout, suite

BENCHMARKS: dict[str, Callable[[list[str]], None]] = {
    "in_process": in_process.main,
    "ledger_postings": ledger_postings.cli,
    "sse_fanout": sse_fanout.main,
}


def main(argv: list[str]) -> None:
    if argv and argv[0] in BENCHMARKS:
        BENCHMARKS[argv[0]](argv[1:])
        return
    suite.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
