"""``python -m bench`` runs every benchmark with its defaults (what ``make bench`` does);
``python -m bench NAME [options]`` runs one, e.g. ``python -m bench sse_fanout --help``."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import ledger_postings, sse_fanout

BENCHMARKS: dict[str, Callable[[list[str]], None]] = {
    "ledger_postings": ledger_postings.cli,
    "sse_fanout": sse_fanout.main,
}


def main(argv: list[str]) -> None:
    if not argv:
        for name, run in BENCHMARKS.items():
            print(f"== {name}", flush=True)
            run([])
        return
    name, *options = argv
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name}; choose from {', '.join(BENCHMARKS)}")
    BENCHMARKS[name](options)


main(sys.argv[1:])
