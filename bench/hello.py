"""The read scenarios' baseline: a bare Litestar hello on granian, served the way
``gamehub serve`` serves the API (ASGI, the same worker count and options), so that
the ratio prices what Game Hub adds on top of its stack.

    python -m bench.hello --port 8001 --workers 2
"""

from __future__ import annotations

import argparse

from litestar import Litestar, get


@get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[hello], openapi_config=None)


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    parser = argparse.ArgumentParser(prog="python -m bench.hello")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    Granian(
        "bench.hello:create_app",
        address="127.0.0.1",
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        factory=True,
        log_access=False,
        backpressure=10_000,
    ).serve()


if __name__ == "__main__":
    main()
