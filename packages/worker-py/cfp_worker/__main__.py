"""`python -m cfp_worker`: the Python step worker process.

    python -m cfp_worker --dir <projectDir> --url <ws://host:port/__cfp/worker> [--watch] [--name N] [--capacity N]
    python -m cfp_worker --dir <projectDir> --manifest     # print {steps, streams, errors} as JSON and exit

The token comes from CFP_WORKER_TOKEN (never the command line, where `ps` shows it), which is removed from the
environment before step files load; CFP_PROJECT_DIR and
CFP_RUNTIME_URL are fallbacks. Prints `cfp-worker-py: registered N steps (M errors)` after each registration.
SIGTERM/SIGINT drain and exit 0. With CFP_PARENT_PID set (cfp dev / cfp start), the worker lives no longer than
that process: it drains and exits when it is gone. With --watch, a change to a project `.py` file drains the
worker and restarts its process (same pid, fresh interpreter), which then loads and registers the new code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from . import watch
from .invoke import json_default, running_threads
from .loader import load_project
from .worker import Worker


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m cfp_worker", description="CFP Python step worker")
    ap.add_argument("--dir", default=os.environ.get("CFP_PROJECT_DIR"))
    ap.add_argument("--url", default=os.environ.get("CFP_RUNTIME_URL"))
    ap.add_argument("--watch", action="store_true")
    ap.add_argument("--name")
    ap.add_argument("--capacity", type=int)
    ap.add_argument("--manifest", action="store_true", help="print the project's Python manifests as JSON and exit")
    args = ap.parse_args(argv)
    if not args.dir:
        ap.error("no project directory: pass --dir or set CFP_PROJECT_DIR")
    if args.manifest:
        return args
    if not args.url or not args.url.startswith(("ws://", "wss://")):
        ap.error("--url must be a ws:// or wss:// URL (or set CFP_RUNTIME_URL)")
    if args.capacity is not None and args.capacity < 1:
        ap.error("--capacity must be a whole number >= 1")
    return args


async def _main(args: argparse.Namespace) -> int:
    # the token leaves the environment before any step file loads: step code cannot read it from os.environ
    token = os.environ.pop("CFP_WORKER_TOKEN", None)
    if not token:
        print("cfp-worker-py: no worker token: set CFP_WORKER_TOKEN", file=sys.stderr)
        return 2
    os.chdir(args.dir)
    worker = Worker(dir=os.getcwd(), url=args.url, token=token, name=args.name, capacity=args.capacity)
    worker.load()
    loop = asyncio.get_running_loop()
    restart = False
    signals = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            print(f"cfp-worker-py: {sig.name} again; exiting now", file=sys.stderr, flush=True)
            os._exit(1)
        print(f"cfp-worker-py: {sig.name} received; draining ({len(worker.inflight)} in flight)", file=sys.stderr, flush=True)
        asyncio.ensure_future(worker.stop())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)

    async def watch_parent(pid: int) -> None:
        while True:
            await asyncio.sleep(0.5)
            if os.getppid() != pid:
                print("cfp-worker-py: the parent process is gone; draining and exiting", file=sys.stderr, flush=True)
                await worker.stop()
                return

    async def watch_files() -> None:
        nonlocal restart
        before = watch.snapshot(worker.dir)
        while True:
            await asyncio.sleep(0.3)
            after = watch.snapshot(worker.dir)
            files = watch.changed(before, after)
            if files:
                await asyncio.sleep(0.1)  # let an editor finish writing
                what = f"{os.path.relpath(files[0], worker.dir)} changed" if len(files) == 1 else f"{len(files)} files changed"
                print(f"cfp-worker-py: {what}; restarting the Python worker", file=sys.stderr, flush=True)
                restart = True
                await worker.stop()
                return

    helpers = []
    parent = os.environ.get("CFP_PARENT_PID")
    if parent and parent.isdigit():
        helpers.append(asyncio.ensure_future(watch_parent(int(parent))))
    if args.watch:
        helpers.append(asyncio.ensure_future(watch_files()))
    code = await worker.run()
    for h in helpers:
        h.cancel()
    if restart:
        sys.stdout.flush()
        sys.stderr.flush()
        argv = ["--dir", worker.dir, "--url", args.url, "--watch"]
        argv += ["--name", args.name] if args.name else []
        argv += ["--capacity", str(args.capacity)] if args.capacity else []
        os.execve(sys.executable, [sys.executable, "-m", "cfp_worker", *argv], {**os.environ, "CFP_WORKER_TOKEN": token})
    return code


def _manifest(root: str) -> int:
    """What `cfp generate-types` reads: the manifests of the Python steps and streams, and the load errors."""
    root = os.path.abspath(root)
    os.chdir(root)
    loaded = load_project(root)
    out = {
        "steps": [s.manifest for s in loaded.steps],
        "streams": [s.manifest for s in loaded.streams],
        "errors": [{**e.data(), "message": e.message} for e in loaded.errors],
    }
    print(json.dumps(out, default=json_default))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.manifest:
        return _manifest(args.dir)
    code = asyncio.run(_main(args))
    if running_threads():
        # A sync handler still spinning (cancelled, or past the drain timeout) would hold the interpreter's exit,
        # which joins the pool's threads: leave without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
