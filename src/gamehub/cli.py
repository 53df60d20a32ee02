"""The ``gamehub`` command: serve, migrate, and operator tools."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, TypeVar

import click

from gamehub import migrate
from gamehub.core.passwords import WORKERS_ENV
from gamehub.matchmaking.cli import service
from gamehub.payments.mpesa.cli import mpesa_sim
from gamehub.settings import get_settings
from gamehub.stats.cli import leaderboard

if TYPE_CHECKING:
    from gamehub.core.runtime import Runtime
    from gamehub.wallet.verify import LedgerReport

T = TypeVar("T")


def _start() -> AbstractAsyncContextManager[Runtime]:
    # Imported when a command needs it: `gamehub serve` and `gamehub db` start faster.
    from gamehub.composition import running

    return running()


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        async with _start() as runtime:
            return await work(runtime)

    return asyncio.run(run())


@click.group()
@click.pass_context
def main(context: click.Context) -> None:
    """Game Hub backend."""
    # Every command, a domain's included, starts its runtime through the composition root.
    context.obj = _start


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--migrate/--no-migrate",
    "run_migrations",
    default=False,
    help="Upgrade the database schema before serving.",
)
@click.option(
    "--max-concurrency",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests each worker serves at once; every open event stream holds one.",
)
@click.option(
    "--with-mpesa-sim",
    "sim_port",
    type=int,
    default=None,
    metavar="PORT",
    help="Also run the local Daraja simulator on PORT and use it as the M-Pesa provider.",
)
@click.option(
    "--shutdown-timeout",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds a worker has after SIGTERM or Ctrl-C to finish its requests before it is "
    "killed. Event streams end at once (docs/lifecycle.md).",
)
def serve(
    host: str,
    port: int,
    workers: int,
    run_migrations: bool,
    max_concurrency: int,
    sim_port: int | None,
    shutdown_timeout: int,
) -> None:
    """Serve the API with granian."""
    from gamehub.core.shutdown import skip_exit_collections

    simulator = None if sim_port is None else _start_simulator(sim_port, f"http://{host}:{port}")
    try:
        _serve(host, port, workers, run_migrations, max_concurrency, shutdown_timeout)
    finally:
        if simulator is not None:
            _stop(simulator, shutdown_timeout)
    skip_exit_collections()


def _serve(
    host: str,
    port: int,
    workers: int,
    run_migrations: bool,
    max_concurrency: int,
    shutdown_timeout: int,
) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    settings = get_settings()
    if workers > 1 and settings.redis_url is None:
        raise click.UsageError(
            "--workers > 1 needs GAMEHUB_REDIS_URL: without Redis, lockouts, revocations and "
            "events live in one process's memory and the workers would disagree."
        )
    if workers > 1 and settings.database_url.startswith("sqlite"):
        click.echo("warning: several workers on SQLite serialise every write", err=True)
    if run_migrations:
        migrate.upgrade(settings.database_url)
    # The workers inherit it: they share the cores' hashing threads among them.
    os.environ[WORKERS_ENV] = str(workers)
    _share_metrics()
    Granian(
        "gamehub.app:served_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        # Each request's access line is the app's own (gamehub.core.observe): JSON, with
        # its request id and route template, never its raw path.
        log_access=False,
        # granian's default (its backlog / workers, ~1000) would let that many idle SSE
        # clients stall every other request on the worker.
        backpressure=max_concurrency,
        # Without it, one worker's death (a crash, the OOM killer) ends the whole server,
        # and the simulator with it; the other workers serve meanwhile. granian still
        # exits on a crash loop (a worker dying again within seconds of its respawn).
        respawn_failed_workers=True,
        # After it, a worker still busy is killed: a request stuck on a slow provider
        # must not hold a deploy (or Ctrl-C) up for the provider's whole timeout.
        workers_kill_timeout=shutdown_timeout,
    ).serve()


def _share_metrics() -> None:
    """Give the workers one directory for their metrics, so that GET /metrics on any of
    them counts all (docs/operations.md): the operator's PROMETHEUS_MULTIPROC_DIR, emptied
    of a previous run's files, or a fresh one removed when the server stops."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from gamehub.core.metrics import MULTIPROC_ENV, enable_multiprocess

    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="gamehub-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    enable_multiprocess(directory)


# How long the simulator may take to start listening (a cold start imports the app).
SIMULATOR_START_SECONDS = 60.0


def _start_simulator(port: int, public_url: str) -> subprocess.Popen[bytes]:
    """Run ``gamehub mpesa-sim`` beside the API (a development convenience), wait until it
    accepts connections, and point the API's settings, which granian's workers read from
    the environment, at it. Until it listens the API would answer every deposit 503."""
    from pathlib import Path

    from gamehub.core.mpesa.credentials import ensure_simulator_keypair

    keys_dir = Path("var/mpesa-sim").resolve()
    # Made before either process starts: the API reads the certificate at start-up.
    _, certificate = ensure_simulator_keypair(keys_dir)
    simulator = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [sys.argv[0], "mpesa-sim", "--port", str(port), "--keys-dir", str(keys_dir)]
    )
    try:
        _wait_until_listening(simulator, port)
    except BaseException:
        _stop(simulator, 1)
        raise
    os.environ.setdefault("GAMEHUB_MPESA_BASE_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("GAMEHUB_MPESA_CERTIFICATE_PATH", str(certificate))
    os.environ.setdefault("GAMEHUB_MPESA_CALLBACK_BASE_URL", public_url)
    get_settings.cache_clear()
    return simulator


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + SIMULATOR_START_SECONDS
    while True:
        if process.poll() is not None:
            raise click.ClickException(f"the M-Pesa simulator exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"the M-Pesa simulator did not listen on {port} within "
                    f"{SIMULATOR_START_SECONDS:.0f} s"
                ) from None
            # Nothing to wait on but the port itself: a short pause between attempts.
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a child and wait for it, so that ``make run`` returns only once all is down.
    On Ctrl-C it has had the terminal's SIGINT already; SIGTERM is for the other exits."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema (to the newest revision by default)."""
    migrate.upgrade(get_settings().database_url, revision)


@db.command()
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Downgrade the schema (one revision by default; 'base' removes every table)."""
    migrate.downgrade(get_settings().database_url, revision)


@db.command()
def current() -> None:
    """Show the schema's current revision."""
    click.echo(migrate.current(get_settings().database_url) or "(empty database)")


@main.command("create-admin")
@click.argument("username")
@click.option("--email", default=None)
@click.password_option(help="Prompted for when not given.")
def create_admin(username: str, email: str | None, password: str) -> None:
    """Create an administrator account, or make an existing account one."""
    from gamehub.admin.service import create_admin as create

    try:
        created = _with_runtime(lambda runtime: create(runtime, username, password, email))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'created' if created else 'promoted'} administrator {username}")


@main.group()
def user() -> None:
    """Operator tools for accounts."""


def _os_user(actor: str | None) -> str:
    import getpass

    return actor or getpass.getuser()


@user.command("unlock")
@click.argument("username")
@click.option("--actor", default=None, help="Who is unlocking (default: the OS user).")
def user_unlock(username: str, actor: str | None) -> None:
    """Clear every login lock of USERNAME (by name and email, from every address)."""
    from gamehub.admin.service import unlock_user
    from gamehub.errors import GamehubError

    try:
        cleared = _with_runtime(lambda runtime: unlock_user(runtime, username, _os_user(actor)))
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"unlocked {username} ({cleared} lock records cleared)")


@user.command("kyc")
@click.argument("username")
@click.argument("status", type=click.Choice(["unverified", "pending", "verified", "rejected"]))
@click.option("--actor", default=None, help="Who checked (default: the OS user).")
def user_kyc(username: str, status: str, actor: str | None) -> None:
    """Set USERNAME's KYC status (what GAMEHUB_KYC_REQUIRED_* settings ask for)."""
    from gamehub.admin.service import set_kyc
    from gamehub.errors import GamehubError
    from gamehub.models.protection import KycStatus

    try:
        _with_runtime(
            lambda runtime: set_kyc(runtime, username, KycStatus(status), _os_user(actor))
        )
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{username}: KYC {status}")


@user.command("deactivate")
@click.argument("username")
@click.option("--actor", default=None, help="Who is deactivating (default: the OS user).")
def user_deactivate(username: str, actor: str | None) -> None:
    """Disable USERNAME: sessions, API token and event streams end, logins are refused."""
    from gamehub.admin.service import deactivate_user
    from gamehub.errors import GamehubError

    try:
        _with_runtime(lambda runtime: deactivate_user(runtime, username, _os_user(actor)))
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"deactivated {username}")


@user.command("grant")
@click.argument("username")
@click.argument("role", type=click.Choice(["admin", "support", "finance"]))
@click.option("--actor", default=None, help="Who is granting (default: the OS user).")
def user_grant(username: str, role: str, actor: str | None) -> None:
    """Give USERNAME a ROLE of the admin API: admin, support or finance."""
    from gamehub.admin.service import grant_role
    from gamehub.errors import GamehubError

    try:
        roles = _with_runtime(lambda runtime: grant_role(runtime, username, role, _os_user(actor)))
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{username} now holds {', '.join(sorted(roles))}")


@user.command("revoke")
@click.argument("username")
@click.argument("role", type=click.Choice(["admin", "support", "finance"]))
@click.option("--actor", default=None, help="Who is revoking (default: the OS user).")
def user_revoke(username: str, role: str, actor: str | None) -> None:
    """Take a ROLE of the admin API from USERNAME."""
    from gamehub.admin.service import revoke_role
    from gamehub.errors import GamehubError

    try:
        roles = _with_runtime(lambda runtime: revoke_role(runtime, username, role, _os_user(actor)))
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{username} now holds {', '.join(sorted(roles)) or 'no role'}")


@main.group()
def ledger() -> None:
    """The double-entry ledger."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Check every ledger invariant; exit 1 on any drift."""
    from gamehub.core.db import Database
    from gamehub.wallet.verify import verify_ledger

    async def run() -> LedgerReport:
        database = Database(get_settings().database_url)
        try:
            async with database.unit_of_work() as session:
                return await verify_ledger(session)
        finally:
            await database.dispose()

    report = asyncio.run(run())
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    summary = (
        f"{report.transactions} transactions, {report.entries} entries, {report.wallets} wallets"
    )
    if not report.ok:
        raise click.ClickException(f"ledger has {len(report.problems)} problems ({summary})")
    click.echo(f"ledger ok: {summary}")


@main.command("verify-bet")
@click.argument("bet_id", type=int)
def verify_bet_command(bet_id: int) -> None:
    """Recompute a bet from its revealed seed; exit 1 if it does not match."""
    from gamehub.core.db import Database
    from gamehub.errors import GamehubError
    from gamehub.games.schemas import VerifyOut
    from gamehub.games.verify import verify_bet
    from gamehub.models import Bet

    async def run() -> VerifyOut:
        database = Database(get_settings().database_url)
        try:
            async with database.unit_of_work() as session:
                bet = await session.get(Bet, bet_id)
                if bet is None:
                    raise click.ClickException(f"no bet {bet_id}")
                return await verify_bet(session, database, bet)
        finally:
            await database.dispose()

    try:
        checked = asyncio.run(run())
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"bet {checked.bet_id} ({checked.kind})")
    click.echo(f"  server seed       {checked.server_seed}")
    click.echo(f"  server seed hash  {checked.server_seed_hash}")
    if checked.client_seed is not None:
        click.echo(f"  client seed       {checked.client_seed}  nonce {checked.nonce}")
    click.echo(f"  recorded          {checked.result}")
    click.echo(f"  recomputed        {checked.recomputed}")
    if not checked.matches:
        raise click.ClickException("the recorded outcome does NOT match the recomputation")
    click.echo("matches")


@main.group()
def payments() -> None:
    """M-Pesa payments."""


@payments.command("reconcile")
def payments_reconcile() -> None:
    """Ask M-Pesa once about every payment still waiting for its answer."""
    from gamehub.payments.tasks import reconcile_once

    deposits, withdrawals = _with_runtime(reconcile_once)
    click.echo(f"settled {deposits} deposits; asked about {withdrawals} withdrawals")


@payments.command("review")
def payments_review() -> None:
    """List payments waiting for an operator, and callbacks that contradict M-Pesa."""
    from gamehub.core.db import Database
    from gamehub.core.money import to_major
    from gamehub.payments.service.review import ReviewList, review_list

    async def run() -> ReviewList:
        database = Database(get_settings().database_url)
        try:
            async with database.unit_of_work() as session:
                return await review_list(session)
        finally:
            await database.dispose()

    found = asyncio.run(run())
    for d in found.deposits:
        click.echo(
            f"deposit {d.id}: {d.status}, user {d.user_id}, {to_major(d.amount):.2f} "
            f"{d.currency} from {d.phone}, {d.checkout_request_id or 'no CheckoutRequestID'}, "
            f"created {d.created_at:%Y-%m-%d %H:%M:%S}: {d.result_desc or ''}"
        )
    for w in found.withdrawals:
        click.echo(
            f"withdrawal {w.id}: {w.status}, user {w.user_id}, {to_major(w.amount):.2f} "
            f"{w.currency} to {w.phone}, {w.originator_conversation_id}, "
            f"created {w.created_at:%Y-%m-%d %H:%M:%S}: {w.result_desc or ''}"
        )
    for c in found.callbacks:
        click.echo(
            f"callback {c.id}: {c.kind} for {c.external_id} from {c.source_ip or '?'} "
            f"at {c.received_at:%Y-%m-%d %H:%M:%S}: {c.outcome or ''}"
        )
    click.echo(
        f"{len(found.deposits)} deposits and {len(found.withdrawals)} withdrawals need review; "
        f"{len(found.callbacks)} flagged callbacks"
    )


@payments.command("resolve")
@click.argument("kind", type=click.Choice(["deposit", "withdrawal"]))
@click.argument("payment_id", type=int)
@click.option("--paid", "verdict", flag_value="paid", help="M-Pesa moved the money.")
@click.option(
    "--refund",
    "verdict",
    flag_value="refund",
    help="M-Pesa did not: a withdrawal is refunded, a deposit fails.",
)
@click.option("--reason", required=True, help="What the M-Pesa statement shows; kept on record.")
@click.option("--actor", default=None, help="Who is resolving (default: the OS user).")
def payments_resolve(
    kind: str, payment_id: int, verdict: str | None, reason: str, actor: str | None
) -> None:
    """Settle a payment in review through the ledger, exactly once."""
    import getpass

    from gamehub.errors import GamehubError
    from gamehub.payments.service.review import resolve_deposit, resolve_withdrawal

    if verdict is None:
        raise click.UsageError("say --paid or --refund")
    resolve = resolve_deposit if kind == "deposit" else resolve_withdrawal

    async def run(runtime: Runtime) -> str:
        async with runtime.db.unit_of_work() as session:
            payment = await resolve(
                session,
                runtime,
                payment_id,
                paid=verdict == "paid",
                reason=reason,
                actor=f"cli:{actor or getpass.getuser()}",
            )
            return payment.status

    try:
        status = _with_runtime(run)
    except GamehubError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{kind} {payment_id} is now {status}")


main.add_command(mpesa_sim)
main.add_command(service)
main.add_command(leaderboard)


@main.group()
def wallet() -> None:
    """Operator tools for wallets."""


@wallet.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("username")
@click.argument("amount")
@click.option("--reason", required=True, help="Why: kept on the ledger transaction.")
@click.option("--actor", default=None, help="Who is adjusting (default: the OS user).")
def wallet_adjust(username: str, amount: str, reason: str, actor: str | None) -> None:
    """Credit (AMOUNT) or debit (-AMOUNT) a wallet against the house, in major units."""
    import getpass

    from gamehub.accounts.service import AccountService
    from gamehub.core.money import parse_major, to_major
    from gamehub.errors import GamehubError
    from gamehub.wallet.service import WalletService

    settings = get_settings()
    sign = -1 if amount.startswith("-") else 1
    try:
        minor = sign * parse_major(amount.lstrip("-"), maximum_minor=settings.max_amount_minor)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="AMOUNT") from exc

    async def run(runtime: Runtime) -> tuple[int, int]:
        async with runtime.db.unit_of_work() as session:
            user_id = await AccountService(session, runtime).user_id_named(username)
            wallets = WalletService(session, settings.currency, runtime.events)
            transaction, balance = await wallets.adjust(
                user_id, minor, reason=reason, actor=f"cli:{actor or getpass.getuser()}"
            )
            return transaction.id, balance

    try:
        transaction_id, balance = _with_runtime(run)
    except (GamehubError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"adjusted {username} by {to_major(minor):.2f} {settings.currency} "
        f"(ledger transaction {transaction_id}); balance {to_major(balance):.2f}"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
