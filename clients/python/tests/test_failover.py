"""A client of three nodes keeps working when nodes die, and says ``Unavailable`` when a
majority is gone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import Cluster, until

from taskcore import Client, Job, Status, Unavailable, Worker


def leader(c: Cluster, admin_token: str) -> int:
    """The index of the leader in ``c.nodes``."""
    with Client(c.urls, token=admin_token) as admin:
        leader_id = until(lambda: admin.cluster.status().leader_id, what="a leader")
    return [n.node_id for n in c.nodes].index(leader_id)


def test_reads_and_writes_fail_over_between_nodes(cluster: Cluster, user_token: str) -> None:
    with Client(cluster.urls, token=user_token, brand_id=9) as c:
        before = c.tasks.create(task_type="data_export", description="before")
        cluster.nodes[0].kill()
        # The first URL refuses connections now: every call moves on to the next node.
        after = c.tasks.create(task_type="data_export", description="after")
        assert c.tasks.get(before.id).description == "before"
        assert c.tasks.get(after.id).description == "after"


def test_a_create_survives_the_leader_s_death_once(
    cluster: Cluster, user_token: str, admin_token: str
) -> None:
    lead = leader(cluster, admin_token)
    survivors = [n.url for i, n in enumerate(cluster.nodes) if i != lead]
    with Client([cluster.nodes[lead].url, *survivors], token=user_token, brand_id=9) as c:
        cluster.nodes[lead].kill()
        made = [c.tasks.create(task_type="data_export", description=f"n{i}") for i in range(5)]
        listed = c.tasks.list(ordering="id", page_size=100).results
        assert [t.id for t in listed] == [t.id for t in made]


def test_a_lost_majority_is_unavailable(cluster: Cluster, user_token: str) -> None:
    cluster.nodes[1].kill()
    cluster.nodes[2].kill()
    with Client(cluster.nodes[0].url, token=user_token, brand_id=9, retries=1) as c:
        started = time.monotonic()
        # A TransportError here would mean the node dropped the request instead of saying 503.
        with pytest.raises(Unavailable) as e:
            c.tasks.create(task_type="data_export")
        assert e.value.status == 503
        assert e.value.retry_after is not None
        assert time.monotonic() - started < 30


def test_a_worker_carries_on_when_its_node_dies(
    cluster: Cluster, user_token: str, worker_token: str
) -> None:
    done: list[Any] = []
    w = Worker(cluster.urls, token=worker_token, wait_seconds=1)

    @w.task("data_export")
    def export(job: Job) -> None:
        done.append(job.id)

    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        with Client(cluster.urls[1:], token=user_token, brand_id=9) as c:
            first = c.tasks.create(task_type="data_export")
            until(lambda: c.tasks.get(first.id).status is Status.COMPLETED)
            cluster.nodes[0].kill()
            second = c.tasks.create(task_type="data_export")
            until(lambda: c.tasks.get(second.id).status is Status.COMPLETED, timeout=30)
        assert sorted(done) == [first.id, second.id]
    finally:
        w.stop()
        thread.join(30)
