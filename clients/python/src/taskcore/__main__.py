"""``python -m taskcore worker myapp.tasks:w``: runs a :class:`taskcore.Worker` of a module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ._worker import Worker


def load(spec: str) -> Worker:
    """The worker named by ``module:attribute``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"expected module:attribute, got {spec!r}")
    module = importlib.import_module(module_name)
    worker = getattr(module, attr, None)
    if not isinstance(worker, Worker):
        raise SystemExit(f"{spec} is not a taskcore.Worker")
    return worker


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m taskcore")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("worker", help="run a worker: python -m taskcore worker module:attribute")
    run.add_argument("worker", help="the Worker to run, as module:attribute")
    run.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    sys.path.insert(0, "")
    load(args.worker).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
