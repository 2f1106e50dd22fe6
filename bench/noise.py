"""How noisy a benchmark run was (issue 24): each ratio's spread over its rounds, and the
machine's load while the run went, so a reader can tell a quiet run from a loaded one.

The machine is shared (2 cores, other sessions' tests and benchmarks beside ours), so a
ratio's median alone hides how far its rounds disagreed, and a low figure may be the
machine's, not the code's. ``Load`` samples the load average whenever the run logs a
line, and compares the CPU time the whole machine spent (/proc/stat) with the CPU time
of this run's own processes: the rest is the other processes' share.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

PROC_STAT = Path("/proc/stat")


def round_ratios(figures: Sequence[float], limits: Sequence[float]) -> list[float]:
    """Each round's figure over the same round's limit."""
    if len(figures) != len(limits):
        raise ValueError(f"{len(figures)} figures for {len(limits)} limits")
    return [f / lim for f, lim in zip(figures, limits, strict=True) if lim]


def spread(figures: Sequence[float], limits: Sequence[float]) -> list[float] | None:
    """[min, max] of the per-round ratios (figure_i / limit_i), or None without rounds."""
    ratios = round_ratios(figures, limits)
    if not ratios:
        return None
    return [round(min(ratios), 3), round(max(ratios), 3)]


def machine_busy_seconds(stat: str | None = None) -> tuple[float, float]:
    """(busy, total) CPU seconds of every core since boot, from /proc/stat's cpu line
    (busy = all but idle and iowait; steal counts as busy: the core was not ours)."""
    text = PROC_STAT.read_text() if stat is None else stat
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    idle = fields[3] + fields[4]
    return (total - idle) / ticks, total / ticks


def own_seconds() -> float:
    """CPU seconds of this process, its reaped children (with theirs), and its live
    descendants."""
    times = os.times()
    seconds = times.user + times.system + times.children_user + times.children_system
    for child in psutil.Process().children(recursive=True):
        try:
            cpu = child.cpu_times()
            seconds += cpu.user + cpu.system
        except psutil.Error:
            pass
    return seconds


def tree_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants, the ended ones included (each live
    process's reaped children count in its own children_* times): a server that is not
    our child, as the PostgreSQL cluster pg_ctl starts, whose backends come and go."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    seconds = 0.0
    for process in tree:
        try:
            cpu = process.cpu_times()
            seconds += cpu.user + cpu.system + cpu.children_user + cpu.children_system
        except psutil.Error:
            pass
    return seconds


#: The run's Load, so that code starting a server outside our process tree can count it.
_active: Load | None = None


def postmaster_pid(cluster: Any) -> int | None:
    """The server process of a PostgresCluster (tests/indexer/pgcluster.py), if running."""
    try:
        return int((Path(cluster.data) / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def count_cluster(cluster: Any) -> None:
    """Before a PostgresCluster stops: its server's CPU to this run's share (pg_ctl
    detaches the server from our process tree)."""
    pid = postmaster_pid(cluster)
    if _active is not None and pid is not None:
        _active.add_server(tree_seconds(pid))


class Load:
    """The machine's load over a run: load averages as it goes, and at the end the CPU
    share of this run's processes against everyone else's. The newest one is the run's
    (``count_cluster`` adds to it)."""

    def __init__(self) -> None:
        global _active
        _active = self
        self.started = time.monotonic()
        self.busy0, self.total0 = machine_busy_seconds()
        self.own0 = own_seconds()
        self.foreign = 0.0  # CPU of servers we started that are not our descendants
        self.loadavg: list[float] = [os.getloadavg()[0]]

    def sample(self) -> None:
        """Note the 1-minute load average now (called at every logged line)."""
        self.loadavg.append(os.getloadavg()[0])

    def add_server(self, seconds: float) -> None:
        """Count ``seconds`` of CPU of a server of this run outside its process tree."""
        self.foreign += seconds

    def summary(self) -> dict[str, Any]:
        """Load averages (start, end, min, max, samples) and CPU shares over the run,
        each as a fraction of all cores' time."""
        self.sample()
        busy, total = machine_busy_seconds()
        capacity = max(total - self.total0, 1e-9)
        machine = busy - self.busy0
        ours = min(machine, own_seconds() - self.own0 + self.foreign)
        return {
            "cores": os.cpu_count(), "seconds": round(time.monotonic() - self.started, 1),
            "loadavg_start": self.loadavg[0], "loadavg_end": self.loadavg[-1],
            "loadavg_min": min(self.loadavg), "loadavg_max": max(self.loadavg),
            "loadavg_samples": len(self.loadavg),
            "cpu_busy_share": round(machine / capacity, 3),
            "cpu_ours_share": round(ours / capacity, 3),
            "cpu_others_share": round(max(0.0, machine - ours) / capacity, 3),
        }  # fmt: skip


def describe(load: dict[str, Any]) -> str:
    """One line for the table's header: how loaded the machine was during the run."""
    return (
        f"Machine load during the run ({load['seconds']:,.0f} s, {load['cores']} cores): "
        f"1-minute load average {load['loadavg_start']:.1f} at the start, "
        f"{load['loadavg_end']:.1f} at the end, {load['loadavg_min']:.1f}-"
        f"{load['loadavg_max']:.1f} over {load['loadavg_samples']} samples; CPU busy "
        f"{load['cpu_busy_share']:.0%} of all cores' time, this run's processes "
        f"{load['cpu_ours_share']:.0%}, other processes {load['cpu_others_share']:.0%}."
    )
