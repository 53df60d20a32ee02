"""The wallet's service: an operator's adjustment reaches the player like any movement."""

from __future__ import annotations

import anyio

from gamehub.core.events import user_topic
from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime
from gamehub.wallet.service import WalletService
from tests.support.api import Client, register


async def test_an_adjustment_is_told_to_the_wallet_s_owner(
    client: Client, runtime: Runtime
) -> None:
    account = await register(client)
    stream = await runtime.events.open([user_topic(account["id"])])
    async with runtime.db.unit_of_work() as session:
        transaction, balance = await WalletService(session, "KES", runtime.events).adjust(
            account["id"], 12_345, reason="goodwill", actor="tests"
        )
    with anyio.fail_after(5):
        told = await stream.get()
    runtime.events.unsubscribe(stream)
    assert told.name == "transaction_update"
    assert told.data["category"] == "adjustment"
    assert told.data["amount"] == 123.45
    assert told.data["balance_after"] == to_major(balance)
    assert told.data["reference"] == transaction.reference
    assert told.data["description"] == "goodwill"


async def test_without_a_bus_an_adjustment_tells_nobody(client: Client, runtime: Runtime) -> None:
    account = await register(client)
    stream = await runtime.events.open([user_topic(account["id"])])
    async with runtime.db.unit_of_work() as session:
        await WalletService(session, "KES").adjust(
            account["id"], 100, reason="silent", actor="tests"
        )
    # Published after the commit: the stream hears it first, or nothing came before it.
    await runtime.events.publish("heartbeat_probe", {}, [user_topic(account["id"])])
    with anyio.fail_after(5):
        first = await stream.get()
    runtime.events.unsubscribe(stream)
    assert first.name == "heartbeat_probe"
