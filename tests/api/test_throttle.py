"""The quotas' building blocks on their own (ledger_app/api/throttle.py): no service, the
event loop and worker threads only."""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio

from ledger_app.api.throttle import TurnsByKey


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


def test_turns_are_taken_round_robin_between_keys() -> None:
    # One key's burst waiting for its turns, then another key: the other key is served
    # next but one, not after the whole burst (issue 17: another tenant's reads waited
    # for every request of a burst to be authenticated first).
    served: list[str] = []
    first_may_finish = threading.Event()

    def work(name: str) -> str:
        if name == "a0":
            first_may_finish.wait(10)
        served.append(name)
        return name

    async def main() -> None:
        turns = TurnsByKey(capacity=1)
        async with anyio.create_task_group() as group:
            group.start_soon(turns.run, "key-a", work, "a0")
            await _until(lambda: turns.busy == 1)
            for i in range(1, 4):
                group.start_soon(turns.run, "key-a", work, f"a{i}")
                await _until(lambda i=i: turns.waiting() == i)
            group.start_soon(turns.run, "key-b", work, "b0")
            await _until(lambda: turns.waiting() == 4)
            first_may_finish.set()

    anyio.run(main)
    assert served == ["a0", "a1", "b0", "a2", "a3"]


def test_turns_run_at_most_capacity_at_once_and_return_the_result() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threading.Event().wait(0.02)
        with lock:
            running -= 1
        return n * 2

    results: list[int] = []

    async def one(turns: TurnsByKey, n: int) -> None:
        results.append(await turns.run(f"key-{n % 3}", work, n))

    async def main() -> None:
        turns = TurnsByKey(capacity=2)
        async with anyio.create_task_group() as group:
            for n in range(12):
                group.start_soon(one, turns, n)
        assert (turns.busy, turns.waiting()) == (0, 0)

    anyio.run(main)
    assert sorted(results) == [n * 2 for n in range(12)]
    assert most == 2


def test_turns_of_a_waiter_that_hangs_up_pass_on() -> None:
    # A client that hangs up while waiting for its turn must not take the turn with it.
    release = threading.Event()
    served: list[str] = []

    def work(name: str) -> None:
        if name == "holder":
            release.wait(10)
        served.append(name)

    async def main() -> None:
        turns = TurnsByKey(capacity=1)
        scopes: list[anyio.CancelScope] = []

        async def hung_up() -> None:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                await turns.run("key-b", work, "hung-up")

        async with anyio.create_task_group() as group:
            group.start_soon(turns.run, "key-a", work, "holder")
            await _until(lambda: turns.busy == 1)
            group.start_soon(hung_up)
            await _until(lambda: turns.waiting() == 1)
            scopes[0].cancel()
            await _until(lambda: turns.waiting() == 0)
            group.start_soon(turns.run, "key-c", work, "later")
            await _until(lambda: turns.waiting() == 1)
            release.set()
        assert (turns.busy, turns.waiting()) == (0, 0)

    anyio.run(main)
    assert served == ["holder", "later"]
