"""Real ``taskcore`` nodes for the tests, built from this repository and killed afterwards."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SECRET = "python-client-tests-secret-of-at-least-32-bytes"
FAST = (
    "[raft]\nheartbeat_ms = 50\nelection_timeout_ms = [300, 600]\n"
    "[execution]\nlease_ttl_ms = 1500\nretry_base_ms = 100\nretry_cap_ms = 300\n"
)
LISTENING = re.compile(r"listening on http://(\S+) \(raft (\S+)\)")


def _bin_dir() -> Path:
    """Where ``taskcore`` and ``taskctl`` are: ``TASKCORE_BIN_DIR``, or a fresh cargo build."""
    given = os.environ.get("TASKCORE_BIN_DIR")
    if given:
        return Path(given)
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "taskcore", "-p", "taskctl"], cwd=REPO, check=True
    )
    return REPO / "target" / "debug"


BIN = _bin_dir()


def token(*roles: str) -> str:
    """A token for user 1 "martin" on brands 9 and 10 with these roles."""
    args = [str(BIN / "taskctl"), "token", "--secret", SECRET, "--user-id", "1"]
    args += ["--username", "martin", "--brand-claim", "9:Humari", "--brand-claim", "10:Other"]
    for role in roles:
        args += ["--role", role]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Node:
    """A running ``taskcore serve``."""

    def __init__(self, data_dir: Path, node_id: int = 1, init: bool = True, config: str = FAST):
        self.data_dir = data_dir
        self.node_id = node_id
        self.init = init
        self.config = data_dir.parent / f"node{node_id}.toml"
        self.config.write_text(config)
        self.http_addr = "127.0.0.1:0"
        self.raft_addr = "127.0.0.1:0"
        self.proc: subprocess.Popen[str] | None = None
        self.start()

    def start(self) -> None:
        args = [str(BIN / "taskcore"), "serve", "--http-addr", self.http_addr]
        args += ["--raft-addr", self.raft_addr, "--node-id", str(self.node_id)]
        args += ["--data-dir", str(self.data_dir), "--config", str(self.config)]
        if self.init:
            args.append("--init")
        env = dict(os.environ, TASKCORE_JWT_SECRET=SECRET, TASKCORE_CLUSTER_SECRET=SECRET)
        env["TASKCORE_LOG"] = "error"
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
        )
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None

        def drain() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + 30
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            found = LISTENING.search(line)
            if found:
                self.http_addr, self.raft_addr = found.group(1), found.group(2)
                return

    @property
    def url(self) -> str:
        return f"http://{self.http_addr}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        until(self.ready, timeout, f"node {self.node_id} ready")


def until(check: Callable[[], Any], timeout: float = 20, what: str = "the condition") -> Any:
    """Polls ``check`` until it returns something truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def user_token() -> str:
    return token()


@pytest.fixture(scope="session")
def admin_token() -> str:
    return token("admin")


@pytest.fixture(scope="session")
def worker_token() -> str:
    return token("worker")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for a module's tests."""
    n = Node(tmp_path_factory.mktemp("node") / "data")
    n.wait_ready()
    yield n
    n.kill()


@pytest.fixture
def fresh_node(tmp_path: Path) -> Iterator[Node]:
    """A node of its own, for tests that count or kill."""
    n = Node(tmp_path / "data")
    n.wait_ready()
    yield n
    n.kill()


class Cluster:
    """Three nodes initialised as one cluster."""

    def __init__(self, root: Path, admin: str):
        self.nodes = [Node(root / f"n{i}", node_id=i, init=False) for i in (1, 2, 3)]
        body = {
            "nodes": {
                str(n.node_id): {"http_addr": n.http_addr, "raft_addr": n.raft_addr}
                for n in self.nodes
            }
        }
        req = urllib.request.Request(
            self.nodes[0].url + "/cluster/init/",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        for n in self.nodes:
            n.wait_ready()

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def kill(self) -> None:
        for n in self.nodes:
            n.kill()


@pytest.fixture
def cluster(tmp_path: Path, admin_token: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path, admin_token)
    yield c
    c.kill()
