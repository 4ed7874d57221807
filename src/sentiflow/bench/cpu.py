"""CPU seconds of processes, read from Linux /proc: where the cores went during a bench run.
Unlike wall-clock figures, CPU per item barely moves when other programs load the machine.
Also which process holds which connection. Elsewhere than Linux every reading is None (or
empty) and the benches leave the breakdown out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def own_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by `pid` itself (all its threads, none of its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def child_pids(pid: int) -> list[int]:
    """The live children `pid` started from its main thread."""
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by `pid` and its live descendants."""
    own = own_cpu_s(pid)
    if own is None:
        return None
    return own + sum(own_cpu_s(d) or 0.0 for d in descendants(pid)[1:])


def matching_cpu_s(match: Callable[[str], bool]) -> float | None:
    """CPU seconds of every process whose command line (`ps` style, spaces) satisfies `match`."""
    if not Path("/proc/self/stat").exists():
        return None
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match(cmdline):
            total += own_cpu_s(int(entry.name)) or 0.0
    return total


def _established(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is `port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def connections_by_process(pids: Iterable[int], port: int) -> dict[int, int]:
    """How many established connections on local `port` each of `pids` holds."""
    established = _established(port)
    held = {}
    for pid in pids:
        count = 0
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            fds = []
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in established:
                count += 1
        held[pid] = count
    return held


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    return [pid, *(d for child in child_pids(pid) for d in descendants(child))]
