"""Short-lived processes that compact or scrape a multiprocess directory, to be SIGKILLed.

A fresh interpreter that imports Django and prometheus_client takes about half a second;
a test that kills dozens of compactions and scrapes would spend most of its time there.
So one server process (``python -m tests.system.compaction_processes [WARM_UP_DIR]``)
imports everything once, compacts and scrapes ``WARM_UP_DIR`` (a throwaway copy), and forks
a child per task. It reads one JSON request a line on stdin and answers one JSON line on
stdout (and ``{"ready": true}`` first, once it is warm):

* ``{"task": "compact", "path": …, "pids": […], "one_by_one": bool, "kill_before": k,
  "out": …}``: folds the pids' files (one ``compact_pids`` call, or ``compact_dead`` per
  pid); with ``kill_before`` the child SIGKILLs itself just before its k-th file-system
  step (see :func:`_count_steps`). ``out`` receives ``{"steps": […], "reports": […]}``.
* ``{"task": "scrape", "path": …, "repeat": n, "kill_in_lock": bool, "out": …}``: renders
  ``multiprocess_registry(path)`` n times; ``out`` receives the last exposition. With
  ``kill_in_lock`` the child SIGKILLs itself while it holds the directory's shared lock.
* answer to both: ``{"pid": n}`` (the child was forked; the test may SIGKILL it);
* ``{"reap": n}``: waits for that child; answers ``{"code": c}`` (negative: the signal).

A child writes ``out`` whole or not at all (temporary file, rename). The server does not
reap a child until asked, so a pid the test kills is never another process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from django_prometheus.multiprocess import multiprocess_registry
from django_prometheus.multiprocess_compaction import compact_dead, compact_pids, pids_in


def _write_whole(path: str, data: str) -> None:
    with open(path + ".part", "w") as target:
        target.write(data)
    os.replace(path + ".part", path)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner: object, name: str, before: Callable[..., None]) -> None:
    original = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        before(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(owner, name, wrapped)


def _name(path: str) -> str:
    """The file's name, with the random part of a temporary archive's name as ``*``."""
    name = os.path.basename(path)
    if name.endswith(".tmp"):
        return name.rsplit(".", 2)[0] + ".*.tmp"
    return name


def _count_steps(kill_before: int | None) -> list[str]:
    """Record every file-system step the compaction takes (as ``"kind name"``) and SIGKILL
    this process just before step ``kill_before`` (1-based): between any two steps a crash
    can leave the directory, and the test reaches each of those states on purpose."""
    steps: list[str] = []

    def step(label: str) -> None:
        steps.append(label)
        if len(steps) == kill_before:
            _kill_self()

    _wrap(os, "unlink", lambda path, *_, **__: step(f"unlink {_name(path)}"))
    _wrap(os, "replace", lambda _, path, *__, **___: step(f"replace {_name(path)}"))
    _wrap(os, "fsync", lambda *_: step("fsync -"))
    _wrap(os, "chmod", lambda path, *_, **__: step(f"chmod {_name(path)}"))
    _wrap(tempfile, "mkstemp", lambda *_, prefix="", **__: step(f"mkstemp {prefix}"))
    _wrap(MmapedDict, "write_value", lambda *_: step("write -"))
    return steps


def _compact(request: dict[str, Any]) -> None:
    path: str = request["path"]
    pids: list[int] = request["pids"]
    steps = _count_steps(request.get("kill_before"))
    if request.get("one_by_one"):
        reports = [compact_dead(pid, path) for pid in pids]
    else:
        reports = [compact_pids(pids, path)]
    if request.get("out"):
        _write_whole(
            request["out"],
            json.dumps({"steps": steps, "reports": [dataclasses.asdict(r) for r in reports]}),
        )


def _scrape(request: dict[str, Any]) -> None:
    path: str = request["path"]
    if request.get("kill_in_lock"):
        # CompactedCollector merges the files while it holds the shared lock.
        _wrap(MultiProcessCollector, "merge", lambda *_, **__: _kill_self())
    text = b""
    for _ in range(int(request.get("repeat", 1))):
        text = generate_latest(multiprocess_registry(path))
    if request.get("out"):
        _write_whole(request["out"], text.decode())


TASKS: dict[str, Callable[[dict[str, Any]], None]] = {"compact": _compact, "scrape": _scrape}


def _run_child(request: dict[str, Any]) -> None:
    code = 0
    try:
        TASKS[request["task"]](request)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    if len(sys.argv) > 1:
        # A scrape, a compaction and a scrape of a throwaway directory first: the children
        # start warm (caches filled, bytecode specialised), five times faster.
        warm_up = sys.argv[1]
        generate_latest(multiprocess_registry(warm_up))
        compact_pids(pids_in(warm_up), warm_up)
        generate_latest(multiprocess_registry(warm_up))
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if "reap" in request:
            _, status = os.waitpid(int(request["reap"]), 0)
            answer = {"code": os.waitstatus_to_exitcode(status)}
        else:
            pid = os.fork()
            if pid == 0:
                _run_child(request)
            answer = {"pid": pid}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
