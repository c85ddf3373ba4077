"""A worker for ``python -m taskcore worker crash_worker:w``: saves a checkpoint, then hangs
until it is killed (the crash of the resume test)."""

from __future__ import annotations

import os
import time

from taskcore import Job, Worker

w = Worker(
    os.environ["TASKCORE_TEST_URL"],
    token=os.environ["TASKCORE_TEST_TOKEN"],
    worker_id="crashing",
    wait_seconds=1,
)


@w.task("data_export")
def hang(job: Job) -> None:
    job.progress(30)
    job.save_checkpoint({"page": 3})
    while not job.cancelled:
        time.sleep(0.05)
