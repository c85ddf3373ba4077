"""The asynchronous client: the same surface, awaited."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from conftest import Node

from taskcore import AsyncClient, InvalidOperation, NotFound, Priority, Status


async def test_the_async_surface(node: Node, user_token: str, admin_token: str) -> None:
    m = f"a{uuid.uuid4().hex[:10]}"
    async with AsyncClient([node.url], token=user_token, brand_id=9) as ac:
        made = await asyncio.gather(
            *(ac.tasks.create(task_type="data_export", description=m) for _ in range(5))
        )
        assert len({t.id for t in made}) == 5
        b = f"b{uuid.uuid4().hex[:10]}"
        bulk = await ac.tasks.create_many(
            [{"task_type": "data_export", "description": f"{b} {i}"} for i in range(3)]
        )
        assert [t.description for t in bulk] == [f"{b} {i}" for i in range(3)]
        assert (await ac.tasks.list(search=b)).count == 3
        page = await ac.tasks.list(search=m, ordering="id", page_size=2)
        assert page.count == 5
        seen = [t.id async for t in ac.tasks.iter(search=m, page_size=2, ordering="id")]
        assert seen == sorted(t.id for t in made)
        first = made[0]
        assert (await ac.tasks.get(first.task_id)).id == first.id
        changed = await ac.tasks.update(first.id, priority="critical")
        assert changed.priority is Priority.CRITICAL
        replaced = await ac.tasks.replace(first.id, task_type="data_export")
        assert replaced.priority is Priority.NORMAL
        cancelled = await ac.tasks.cancel(first.id)
        assert cancelled.previous_status is Status.PENDING
        with pytest.raises(InvalidOperation):
            await ac.tasks.cancel(first.id)
        retried = await ac.tasks.retry(first.id)
        assert retried.new_status is Status.PENDING
        await ac.tasks.delete(made[1].id)
        with pytest.raises(NotFound):
            await ac.tasks.get(made[1].id)
        assert (await ac.stats.queues()).total_tasks >= 4
        assert "data_export" in (await ac.stats.types()).task_types
        p = await ac.periodic.create(name=m, task_type="data_export", interval_seconds=600)
        assert (await ac.periodic.get(p.id)).schedule.interval_seconds == 600
        assert (await ac.periodic.update(p.id, description="x")).description == "x"
        assert (await ac.periodic.run_now(p.id)).periodic_task == p.id
        assert any(x.id == p.id for x in await ac.periodic.list())
        await ac.periodic.delete(p.id)
    async with AsyncClient(node.url, token=admin_token) as admin:
        assert (await admin.cluster.status()).state == "leader"
