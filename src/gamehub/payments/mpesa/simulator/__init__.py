"""A local Daraja for development and tests: OAuth, STK Push and its query, B2C v3 and
Transaction Status, with the callbacks POSTed to the URLs in each request.

It follows the protocol reference field by field: ``expires_in`` as a string, a real Password
check, SecurityCredential decrypted with the simulator's own key pair, numeric ResultCode in
callbacks and a string one in the STK query, no CallbackMetadata on failure, a bare-object
ReferenceItem, ``Occassion``, duplicate OriginatorConversationID rejection, and the "being
processed" error while an STK push is pending. State lives in memory: serve it with one worker.

The outcome is chosen by the last two digits of the amount in whole KES, so ordinary amounts
(1, 10, 100, 250, 1000…) succeed:

======  ==================================  =========================================
ends    STK Push (amount 1..250000)         B2C (amount 10..250000)
======  ==================================  =========================================
03      success                             SFC_IC0003 (a *string* code) no such MSISDN
11      1    insufficient balance           1    insufficient funds (Utility account)
21      2001 wrong PIN                      success
32      1032 cancelled by the user          success
37      1037 phone unreachable              success
40      success                             2040 customer unregistered
91      success, callback never sent        success, Result never sent
92      success, callback sent twice        success, Result sent twice
93      success, callback sent late         success, Result sent late
96      success, customer answers late      success
94      success                             queue time-out; the payment went through
95      success                             queue time-out; the payment failed (code 1)
other   success                             success
======  ==================================  =========================================

Besides: an STK AccountReference longer than 12 characters gives result 1025, and a B2C or
Transaction Status request whose SecurityCredential does not decrypt to the configured
initiator password (or whose initiator name differs) gives result 2001.

An STK push stays pending (the query answers "The transaction is being processed") for
``callback_delay_seconds``; then the query tells the outcome and the callback is POSTed. A
late callback arrives after ``late_callback_delay_seconds`` instead, so the query knows the
outcome first, except when the customer answers late (96): then the push stays pending, and
the query says so, until the late callback is sent. Transaction Status finds a payment by
receipt (TransactionID) or, for B2C, by OriginatorConversationID or ConversationID; what it
reports is the true outcome, including that of a timed-out or never-notified payment. A
lookup that finds nothing gets the invented ResultCode ``SIM_NOT_FOUND``.

Hooks for tests and operators, under ``/simulator``: ``POST /simulator/flush`` decides every
pending STK push and delivers every callback still due (not the ones a scenario drops), and
returns once they are delivered; ``POST /simulator/advance`` ``{"seconds": s}`` moves the
simulator's clock ``s`` seconds ahead (pushes decide and callbacks fall due by it) and
returns once the callbacks then due are delivered; ``POST /simulator/expire-token`` expires
the current access token; ``GET /simulator/requests`` lists the API requests received
(newest last, at most 500) and ``GET /simulator/callbacks`` the callbacks with their
delivery state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import MethodNotAllowedException, NotFoundException

from gamehub.payments.mpesa.simulator.engine import Simulator
from gamehub.payments.mpesa.simulator.scenarios import (
    B2C_SCENARIOS,
    DEFAULT_KEYS_DIR,
    NOT_FOUND_CODE,
    SANDBOX_PASSKEY,
    STK_SCENARIOS,
    Delivery,
    Scenario,
    SimulatorConfig,
)
from gamehub.payments.mpesa.simulator.wire import GatewayError

__all__ = [
    "B2C_SCENARIOS",
    "DEFAULT_KEYS_DIR",
    "NOT_FOUND_CODE",
    "SANDBOX_PASSKEY",
    "STK_SCENARIOS",
    "Delivery",
    "Scenario",
    "Simulator",
    "SimulatorConfig",
    "create_simulator_app",
]


class AdvanceIn(msgspec.Struct, forbid_unknown_fields=True):
    seconds: Annotated[float, msgspec.Meta(ge=0)]


def create_simulator_app(config: SimulatorConfig) -> Litestar:
    sim = Simulator(config)

    @get("/oauth/v1/generate")
    async def oauth(request: Request[Any, Any, Any]) -> Response[Any]:
        return sim.oauth(request)

    @post("/mpesa/stkpush/v1/processrequest")
    async def stk_push(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sim.handle(request, sim.stk_push)

    @post("/mpesa/stkpushquery/v1/query")
    async def stk_query(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sim.handle(request, sim.stk_query)

    @post("/mpesa/b2c/v3/paymentrequest")
    async def b2c_payment(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sim.handle(request, sim.b2c_payment)

    @post("/mpesa/transactionstatus/v1/query")
    async def transaction_status(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sim.handle(request, sim.transaction_status)

    @post("/simulator/flush", status_code=200)
    async def flush() -> dict[str, int]:
        return {"delivered": await sim.flush()}

    @post("/simulator/advance", status_code=200)
    async def advance(data: AdvanceIn) -> dict[str, int]:
        return {"delivered": await sim.advance(data.seconds)}

    @post("/simulator/expire-token", status_code=200)
    async def expire_token() -> dict[str, bool]:
        sim.expire_token()
        return {"expired": True}

    @get("/simulator/requests")
    async def requests() -> list[dict[str, Any]]:
        return sim.requests()

    @get("/simulator/callbacks")
    async def callbacks() -> list[dict[str, Any]]:
        return sim.callbacks()

    def gateway_error(status: int, code: str, message: str) -> Callable[..., Response[Any]]:
        def handler(_: Request[Any, Any, Any], __: Exception) -> Response[Any]:
            return Response(GatewayError(status, code, message).envelope(), status_code=status)

        return handler

    return Litestar(
        route_handlers=[
            oauth,
            stk_push,
            stk_query,
            b2c_payment,
            transaction_status,
            flush,
            advance,
            expire_token,
            requests,
            callbacks,
        ],
        lifespan=[sim.lifespan],
        exception_handlers={
            NotFoundException: gateway_error(404, "404.001.01", "Resource not found"),
            MethodNotAllowedException: gateway_error(405, "405.001", "Method Not Allowed"),
        },
        openapi_config=None,
    )
