"""The worker against a real node: results, progress, metrics, failures, retries, checkpoints,
cancellation, give-back at shutdown, a crash, concurrency and failover between URLs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Node, until

from taskcore import Client, Job, PermanentFailure, Status, Task, Worker


@pytest.fixture
def c(fresh_node: Node, user_token: str) -> Iterator[Client]:
    with Client(fresh_node.url, token=user_token, brand_id=9) as client:
        yield client


class Running:
    """A worker running in a thread."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 30) -> None:
        self.worker.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker stopped"


Make = Callable[..., tuple[Worker, Callable[[], Running]]]
"""Makes a worker of the test's node (keyword arguments of ``Worker``) and how to start it."""


@pytest.fixture
def run(fresh_node: Node, worker_token: str) -> Iterator[Make]:
    started: list[Running] = []

    def make(**kw: Any) -> tuple[Worker, Callable[[], Running]]:
        urls = kw.pop("urls", [fresh_node.url])
        kw.setdefault("wait_seconds", 1)
        w = Worker(urls, token=worker_token, **kw)

        def start() -> Running:
            r = Running(w)
            started.append(r)
            return r

        return w, start

    yield make
    for r in started:
        if r.thread.is_alive():
            r.stop()


def finished(c: Client, task_id: int) -> Callable[[], Task | None]:
    def check() -> Task | None:
        t = c.tasks.get(task_id)
        return t if t.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED) else None

    return check


def test_result_progress_and_metrics(c: Client, run: Make) -> None:
    w, start = run()
    seen_progress = threading.Event()

    @w.task("data_export")
    def export(job: Job) -> dict[str, int]:
        job.progress(40)
        job.metrics(memory_usage_mb=128, rows=3)
        seen_progress.wait(20)
        return {"pages": 10}

    t = c.tasks.create(task_type="data_export")
    start()
    until(lambda: c.tasks.get(t.id).progress_percentage == 40, what="progress sent by heartbeat")
    seen_progress.set()
    done = until(finished(c, t.id))
    assert done.status is Status.COMPLETED
    assert done.result_data == {"pages": 10}
    assert done.metrics is not None
    assert done.metrics.memory_usage_mb == 128
    assert done.metrics.custom == {"rows": 3}
    assert done.metrics.execution_time_ms is not None


def test_async_handlers_run_on_the_loop(c: Client, run: Make) -> None:
    w, start = run()

    @w.task("data_export")
    async def export(job: Job) -> dict[str, Any]:
        return {"ctx": job.context_data, "attempt": job.attempt}

    t = c.tasks.create(task_type="data_export", context_data={"k": "v"})
    start()
    done = until(finished(c, t.id))
    assert done.result_data == {"ctx": {"k": "v"}, "attempt": 1}


def test_permanent_failure_is_not_retried(c: Client, run: Make) -> None:
    w, start = run()

    @w.task("data_export")
    def export(job: Job) -> None:
        raise PermanentFailure("no url")

    t = c.tasks.create(task_type="data_export", max_retries=3)
    start()
    done = until(finished(c, t.id))
    assert done.status is Status.FAILED
    assert done.error_message == "no url"
    assert done.retry_count == 0


def test_an_exception_retries_from_the_last_checkpoint(c: Client, run: Make) -> None:
    w, start = run()
    checkpoints: list[Any] = []

    @w.task("data_export")
    def export(job: Job) -> str:
        checkpoints.append(job.checkpoint)
        if job.attempt == 1:
            # Saved just before failing: no heartbeat carried it yet.
            job.save_checkpoint({"page": 7})
            raise ValueError("flaky")
        return "ok"

    t = c.tasks.create(task_type="data_export", max_retries=3)
    start()
    done = until(finished(c, t.id))
    assert done.status is Status.COMPLETED
    assert done.result_data == {"result": "ok"}
    assert checkpoints == [None, {"page": 7}]
    attempts = c.tasks.get(t.id).attempts or []
    assert [a.outcome for a in attempts] == ["failed", "completed"]
    assert attempts[0].error_message == "ValueError: flaky"


def test_cancellation_reaches_the_handler(c: Client, run: Make) -> None:
    w, start = run()
    started = threading.Event()
    reasons: list[str | None] = []

    @w.task("data_export")
    def export(job: Job) -> str:
        started.set()
        while not job.cancelled:
            time.sleep(0.02)
        reasons.append(job.cancel_reason)
        return "ignored"

    t = c.tasks.create(task_type="data_export")
    start()
    assert started.wait(20)
    c.tasks.cancel(t.id)
    until(lambda: reasons, what="the handler seeing the cancel")
    assert reasons == ["cancelled"]
    done = c.tasks.get(t.id)
    assert done.status is Status.CANCELLED
    assert done.result_data is None


def test_shutdown_gives_back_what_it_cannot_finish(c: Client, run: Make) -> None:
    w, start = run(shutdown_grace=0.3)
    started = threading.Event()

    @w.task("data_export")
    def export(job: Job) -> None:
        job.save_checkpoint({"page": 2})
        started.set()
        while not job.cancelled:
            time.sleep(0.02)

    t = c.tasks.create(task_type="data_export")
    running = start()
    assert started.wait(20)
    running.stop()
    back = c.tasks.get(t.id)
    assert back.status is Status.PENDING
    assert back.retry_count == 0
    assert back.persistent_job is not None
    assert back.persistent_job.checkpoint == {"page": 2}
    assert [a.outcome for a in back.attempts or []] == ["released"]


def test_shutdown_ends_when_the_running_attempts_do(c: Client, run: Make) -> None:
    # A grace far longer than the test may wait: the worker must stop when its attempt
    # ends, not when the grace runs out.
    w, start = run(shutdown_grace=120)
    started = threading.Event()
    finish = threading.Event()

    @w.task("data_export")
    def export(job: Job) -> str:
        started.set()
        assert finish.wait(20)
        return "done"

    t = c.tasks.create(task_type="data_export")
    running = start()
    assert started.wait(20)
    running.worker.stop()
    finish.set()
    running.thread.join(20)
    assert not running.thread.is_alive(), "the worker outlived its last attempt"
    done = c.tasks.get(t.id)
    assert done.status is Status.COMPLETED
    assert done.result_data == {"result": "done"}


def test_a_crashed_worker_s_task_resumes_from_its_checkpoint(
    c: Client, fresh_node: Node, worker_token: str, run: Make
) -> None:
    t = c.tasks.create(task_type="data_export")
    env = dict(os.environ, TASKCORE_TEST_URL=fresh_node.url, TASKCORE_TEST_TOKEN=worker_token)
    tests = Path(__file__).parent
    env["PYTHONPATH"] = os.pathsep.join([str(tests), env.get("PYTHONPATH", "")])
    crashing = subprocess.Popen(
        [sys.executable, "-m", "taskcore", "worker", "crash_worker:w", "--log-level", "WARNING"],
        env=env,
    )
    try:

        def checkpointed() -> bool:
            job = c.tasks.get(t.id).persistent_job
            return job is not None and job.checkpoint == {"page": 3}

        until(checkpointed, what="the checkpoint reaching the server")
    finally:
        crashing.kill()
        crashing.wait()
    w, start = run()
    resumed: list[Any] = []

    @w.task("data_export")
    def export(job: Job) -> str:
        resumed.append((job.attempt, job.checkpoint))
        return "resumed"

    start()
    done = until(finished(c, t.id), timeout=30)
    assert done.status is Status.COMPLETED
    assert resumed == [(2, {"page": 3})]
    assert [a.outcome for a in c.tasks.get(t.id).attempts or []] == ["lease_expired", "completed"]


def test_concurrency_bounds_the_attempts_in_flight(c: Client, run: Make) -> None:
    w, start = run(concurrency=3)
    lock = threading.Lock()
    now = [0]
    peak = [0]

    @w.task("data_export")
    def export(job: Job) -> None:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.2)
        with lock:
            now[0] -= 1

    ids = [c.tasks.create(task_type="data_export").id for _ in range(9)]
    start()
    for i in ids:
        assert until(finished(c, i)).status is Status.COMPLETED
    assert peak[0] == 3


def test_a_dead_url_is_failed_over(c: Client, fresh_node: Node, run: Make) -> None:
    w, start = run(urls=["http://127.0.0.1:9", fresh_node.url])

    @w.task("data_export")
    def export(job: Job) -> str:
        return "ok"

    t = c.tasks.create(task_type="data_export")
    start()
    assert until(finished(c, t.id)).status is Status.COMPLETED


def _requests_to(node: Node, route: str) -> int:
    """``taskcore_http_requests_total`` of ``route``, all methods and statuses, from /metrics."""
    with urllib.request.urlopen(f"{node.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    label = f'route="{route}"'
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("taskcore_http_requests_total{") and label in line
    )


def test_a_busy_worker_reports_its_successes_together(
    c: Client, run: Make, fresh_node: Node
) -> None:
    w, start = run(concurrency=16)

    @w.task("data_export")
    async def quick(job: Job) -> dict[str, int]:
        return {"n": job.id}

    made = c.tasks.create_many([{"task_type": "data_export"} for _ in range(200)])
    start()
    for t in made:
        done = until(finished(c, t.id), what=f"task {t.id} finished")
        assert done.status == Status.COMPLETED
        assert done.result_data == {"n": t.id}
    batched = _requests_to(fresh_node, "/workers/complete/")
    assert 0 < batched < 200, f"{batched} requests for 200 successes"
    assert _requests_to(fresh_node, "/workers/tasks/{id}/complete/") == 0


def test_completions_fall_back_to_one_by_one_on_a_node_without_the_batch_route() -> None:
    import asyncio

    from taskcore._errors import NotFound
    from taskcore._worker import _Completions

    class OlderNode:
        def __init__(self) -> None:
            self.batches = 0
            self.single: list[int] = []

        async def complete_many(self, completions: list[dict[str, Any]]) -> list[None]:
            self.batches += 1
            raise NotFound(404, {"error_code": "NOT_FOUND", "detail": "no such route"})

        async def complete(self, task: int, lease_id: str, result_data: Any, **_: Any) -> None:
            self.single.append(task)

    class Stub:
        workers = OlderNode()

    async def scenario() -> OlderNode:
        stub = Stub()
        completions = _Completions(stub)  # type: ignore[arg-type]
        reports = [
            completions.report({"id": i, "lease_id": "l", "result_data": {}, "metrics": {}})
            for i in range(5)
        ]
        await asyncio.gather(*reports)
        await completions.report({"id": 5, "lease_id": "l", "result_data": {}, "metrics": {}})
        await completions.aclose()
        return stub.workers

    node = asyncio.run(scenario())
    # Asked once; from then on every report goes alone, each exactly once.
    assert node.batches == 1
    assert sorted(node.single) == [0, 1, 2, 3, 4, 5]
