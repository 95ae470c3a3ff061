"""The micro-batcher behind ingest: what queues meanwhile goes together, a lone item goes at once, and every
item gets its own answer."""

from __future__ import annotations

import asyncio

import pytest

from collector.batching import Batcher


async def _settle() -> None:
    """Let every task that can run, run (a few turns of the loop)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_items_queued_meanwhile_share_a_batch_and_each_gets_its_own_answer() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def handle(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        await release.wait()
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]

    async with Batcher(handle, max_batch=8) as batcher:
        first = asyncio.create_task(batcher.submit(0))
        await _settle()  # the lone first item is taken at once, nobody waits for company
        assert batches == [[0]]
        rest = [asyncio.create_task(batcher.submit(item)) for item in range(1, 5)]
        await _settle()
        release.set()
        assert await first == 0
        answers = await asyncio.gather(*rest, return_exceptions=True)
    assert batches == [[0], [1, 2, 3, 4]]
    assert answers[1] == 20 and answers[3] == 40
    assert isinstance(answers[0], ValueError) and isinstance(answers[2], ValueError)


async def test_a_failing_handler_fails_only_its_batch() -> None:
    async def handle(items: list[int]) -> list[int | BaseException]:
        if 0 in items:
            raise RuntimeError("the store is gone")
        return list(items)

    async with Batcher(handle) as batcher:
        with pytest.raises(RuntimeError):
            await batcher.submit(0)
        assert await batcher.submit(7) == 7


async def test_the_lanes_share_what_waits() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def handle(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        await gate.wait()
        return list(items)

    async with Batcher(handle, lanes=2, max_batch=16) as batcher:
        tasks = [asyncio.create_task(batcher.submit(item)) for item in range(6)]
        await _settle()
        gate.set()
        assert await asyncio.gather(*tasks) == list(range(6))
    assert sorted(len(batch) for batch in batches) == [3, 3]
