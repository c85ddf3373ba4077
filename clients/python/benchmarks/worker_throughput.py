"""No-op jobs per second through the Python worker, next to ``taskcore worker``.

    cargo build --release -p taskcore -p taskctl
    TASKCORE_BIN_DIR=target/release python clients/python/benchmarks/worker_throughput.py

One node (release build, loopback). For each worker, 2,000 ``data_export`` tasks are created
first, then one worker process with 32 slots runs them with a handler that does nothing; the
figure is tasks per second from the first ``started_at`` to the last ``completed_at`` (the
server's own times). Each task costs a lease (shared by the tasks of one long poll), a
complete, and the worker's HTTP round trips.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import BIN, Node, token  # noqa: E402

from taskcore import AsyncClient, Client, Status  # noqa: E402

TASKS = 2000
SLOTS = 32
PY_WORKER = """
import sys
from taskcore import Worker
w = Worker(sys.argv[1], token=sys.argv[2], concurrency={slots}, wait_seconds=1)

@w.task("data_export")
def noop(job):
    return None

@w.task("report_generation")
async def noop_async(job):
    return None

w.run()
"""


async def create(url: str, user: str, task_type: str) -> None:
    async with AsyncClient(url, token=user, brand_id=9) as ac:
        sem = asyncio.Semaphore(32)

        async def one() -> None:
            async with sem:
                await ac.tasks.create(task_type=task_type)

        await asyncio.gather(*(one() for _ in range(TASKS)))


def measure(node: Node, user: str, task_type: str, worker: list[str]) -> float:
    asyncio.run(create(node.url, user, task_type))
    proc = subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(node.url, token=user, brand_id=9) as c:
            while c.tasks.list(task_type=task_type, status="completed", page_size=1).count < TASKS:
                time.sleep(0.2)
            done = list(c.tasks.iter(task_type=task_type, status=Status.COMPLETED, page_size=500))
    finally:
        proc.terminate()
        proc.wait()
    first = min(t.started_at for t in done if t.started_at)
    last = max(t.completed_at for t in done if t.completed_at)
    return TASKS / (last - first).total_seconds()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = "[execution]\nlease_ttl_ms = 30000\n"
        node = Node(Path(tmp) / "data", config=config)
        node.wait_ready()
        user, worker_token = token(), token("worker")
        try:
            rust = [str(BIN / "taskcore"), "worker", "--server", node.url, "--token", worker_token]
            rust += ["--handler", "seo_content_audit=noop", "--concurrency", str(SLOTS)]
            script = Path(tmp) / "py_worker.py"
            script.write_text(PY_WORKER.format(slots=SLOTS))
            py = [sys.executable, str(script), node.url, worker_token]
            rows = [
                ("`taskcore worker` (Rust, noop)", measure(node, user, "seo_content_audit", rust)),
                ("Python `Worker`, plain function", measure(node, user, "data_export", py)),
                ("Python `Worker`, `async def`", measure(node, user, "report_generation", py)),
            ]
        finally:
            node.kill()
    print(f"| worker ({SLOTS} slots, {TASKS} no-op tasks, one node) | tasks/s |")
    print("| --- | --- |")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    os.environ.setdefault("TASKCORE_BIN_DIR", "target/release")
    main()
