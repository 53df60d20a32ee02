"""``gamehub serve``: a worker that dies is replaced while the others keep serving, and the
simulator beside the API outlives it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.api import unique_name
from tests.support.server import free_port, running_server

DEADLINE_SECONDS = 30


def _worker(base_url: str) -> int:
    """The pid of the worker that answered, on a connection of its own (so that it is
    whichever worker accepts it, never one kept alive on a dead worker)."""
    answer = httpx.get(f"{base_url}/health", timeout=5)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["worker"])


def _workers_until(base_url: str, enough: Callable[[set[int]], bool], what: str) -> set[int]:
    """Ask /health until the workers that answered are ``enough``; every ask must succeed."""
    answered: set[int] = set()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not enough(answered):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {DEADLINE_SECONDS} s: {what} (answered: {answered})")
        answered.add(_worker(base_url))
    return answered


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_a_killed_worker_is_respawned_while_the_others_serve(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    if redis_url is None:
        pytest.skip("needs GAMEHUB_TEST_REDIS_URL: several workers require Redis")
    sim_port = free_port()
    env = {
        "GAMEHUB_DATABASE_URL": database_url,
        "GAMEHUB_REDIS_URL": redis_url,
        "GAMEHUB_REDIS_PREFIX": f"gamehub-test:{unique_name('respawn')}:",
        "GAMEHUB_JWT_SECRET": "respawn-test-secret-" + "z" * 32,
    }
    options = ["--with-mpesa-sim", str(sim_port)]
    with running_server(env, workers=2, options=options, cwd=tmp_path) as base_url:
        simulator = f"http://127.0.0.1:{sim_port}/simulator/requests"
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not _answers(simulator):
            assert time.monotonic() < deadline, "the simulator never answered"
            time.sleep(0.1)
        victim, survivor = sorted(_workers_until(base_url, lambda w: len(w) == 2, "two workers"))

        os.kill(victim, signal.SIGKILL)

        # Every request meanwhile succeeds (the survivor takes them), until a new
        # worker answers in the victim's place.
        _workers_until(base_url, lambda w: bool(w - {victim, survivor}), "a new worker")
        assert _answers(simulator), "the simulator died with the worker"
