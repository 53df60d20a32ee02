"""``python -m reliability.through_pgbouncer -- COMMAND...``: run COMMAND with a PgBouncer
of its own (transaction pooling, Debian's package) on a spare loopback port in front of
the PostgreSQL on 127.0.0.1:5432, and exit with COMMAND's status.

In COMMAND's arguments and environment, ``{pgbouncer}`` stands for the bouncer's
``127.0.0.1:<port>``. CI runs the suite's PostgreSQL flows this way (.ci/run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from reliability.services import PgBouncer

PLACEHOLDER = "{pgbouncer}"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.through_pgbouncer")
    parser.add_argument("--upstream-port", type=int, default=5432)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    command = [part for part in options.command if part != "--"]
    if not command:
        parser.error("no command to run")
    root = Path(tempfile.mkdtemp(prefix="gamehub-pgbouncer-"))
    bouncer = PgBouncer(root, options.upstream_port, pool_size=options.pool_size)
    address = f"127.0.0.1:{bouncer.port}"
    env = {name: value.replace(PLACEHOLDER, address) for name, value in os.environ.items()}
    bouncer.start()
    try:
        print(f"pgbouncer: transaction pooling on {address}", file=sys.stderr, flush=True)
        done = subprocess.run([part.replace(PLACEHOLDER, address) for part in command], env=env)
        return done.returncode
    finally:
        bouncer.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
