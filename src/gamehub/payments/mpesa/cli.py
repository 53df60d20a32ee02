"""``gamehub mpesa-sim``: serve the local Daraja simulator with granian.

granian imports the app by name in its worker, so options travel as GAMEHUB_MPESA_SIM_*
environment variables that :func:`create_app_from_env` reads there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from litestar import Litestar

from gamehub.core.mpesa.credentials import ensure_simulator_keypair
from gamehub.core.shutdown import skip_exit_collections
from gamehub.payments.mpesa.simulator import SimulatorConfig, create_simulator_app

ENV_PREFIX = "GAMEHUB_MPESA_SIM_"
_DEFAULTS = SimulatorConfig()
_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "keys_dir": Path,
    "callback_delay_seconds": float,
    "late_callback_delay_seconds": float,
    "token_ttl_seconds": int,
}


def config_from_env(environ: Mapping[str, str] = os.environ) -> SimulatorConfig:
    """Every SimulatorConfig field, upper-cased after the prefix: GAMEHUB_MPESA_SIM_SHORTCODE…"""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(SimulatorConfig):
        name = field.name
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        try:
            values[name] = _CONVERTERS.get(name, str)(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}: {exc}") from exc
    return SimulatorConfig(**values)


def create_app_from_env() -> Litestar:
    return create_simulator_app(config_from_env())


@click.command("mpesa-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, type=int)
@click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Where the simulator keeps its RSA key and certificate (created once).  "
    f"[default: {_DEFAULTS.keys_dir}]",
)
@click.option(
    "--callback-delay",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Seconds before a callback.  [default: {_DEFAULTS.callback_delay_seconds}]",
)
@click.option(
    "--late-callback-delay",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Seconds before a late callback.  [default: {_DEFAULTS.late_callback_delay_seconds}]",
)
@click.option(
    "--token-ttl",
    type=click.IntRange(min=2),
    default=None,
    help=f"Access token lifetime in seconds.  [default: {_DEFAULTS.token_ttl_seconds}]",
)
def mpesa_sim(
    host: str,
    port: int,
    keys_dir: Path | None,
    callback_delay: float | None,
    late_callback_delay: float | None,
    token_ttl: int | None,
) -> None:
    """Serve a local M-Pesa Daraja simulator (see docs/mpesa-simulator.md).

    Credentials and shortcodes come from GAMEHUB_MPESA_SIM_* variables and default to
    Safaricom's sandbox values.
    """
    from granian import Granian
    from granian.constants import Interfaces

    options = {
        "keys_dir": None if keys_dir is None else str(keys_dir.resolve()),
        "callback_delay_seconds": callback_delay,
        "late_callback_delay_seconds": late_callback_delay,
        "token_ttl_seconds": token_ttl,
    }
    for name, value in options.items():
        if value is not None:
            os.environ[ENV_PREFIX + name.upper()] = str(value)
    try:
        config = config_from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    _, certificate = ensure_simulator_keypair(config.keys_dir)
    click.echo(f"Daraja simulator on http://{host}:{port}; client certificate: {certificate}")
    Granian(
        "gamehub.payments.mpesa.cli:create_app_from_env",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        # The simulator's state lives in one process's memory.
        workers=1,
        factory=True,
        log_access=False,
    ).serve()
    skip_exit_collections()


if __name__ == "__main__":
    mpesa_sim()
