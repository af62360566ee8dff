"""Per-shard leases: a run renders a shard only while it holds the shard's lease, so two runs (two
hosts of a Slurm array started twice, say) never destroy each other's partial files.

A lease is `.shard-NNNNNN.tar.lease` beside the shard, holding the host, pid and start time of its
holder; its mtime is a heartbeat, renewed after every group. It is taken and checked under the
corpus lock (an flock), and it is stale, so another run may take it over, when
- its holder ran on this host and that process no longer exists (a crash or SIGKILL: an immediate
  resume on the same machine goes on at once), or
- its heartbeat is older than the timeout (default 10 minutes; a group takes seconds), which is how
  a shard left by a dead host is reclaimed.
Taking a lease over removes the partial files its holder left.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from relhead.files import write_atomic

LEASE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Lease:
    path: Path
    host: str
    pid: int


def lease_path(shard: Path) -> Path:
    shard = Path(shard)
    return shard.with_name(f".{shard.name}.lease")


def leased_shards(out_dir: Path) -> list[Path]:
    """The shards of the corpus in `out_dir` with a lease file beside them (held, or left by a run that died)."""
    return sorted(p.with_name(p.name[1:-len(".lease")]) for p in Path(out_dir).glob(".shard-*.tar.lease"))


def holder_of(path: Path) -> dict | None:
    """The holder of the lease file `path` (host, pid, started, age_s), or None when nobody holds it."""
    try:
        info = json.loads(path.read_text())
        return {**info, "age_s": time.time() - path.stat().st_mtime}
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None  # gone, or cut short while written: nobody holds it


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def is_stale(holder: dict, timeout_s: float = LEASE_TIMEOUT_S) -> bool:
    if holder["age_s"] > timeout_s:
        return True
    return holder["host"] == platform.node() and not _pid_alive(int(holder["pid"]))


def describe(holder: dict) -> str:
    return f"host {holder['host']} pid {holder['pid']}, heartbeat {holder['age_s']:.0f} s ago"


def acquire(shard: Path, timeout_s: float = LEASE_TIMEOUT_S) -> Lease | str:
    """Take the lease of `shard`: the Lease, or a description of the live run that holds it.
    Call under the corpus lock."""
    path = lease_path(shard)
    holder = holder_of(path)
    if holder is not None and not is_stale(holder, timeout_s):
        return describe(holder)
    lease = Lease(path, platform.node(), os.getpid())
    # whole or not at all; a failure (a full disk) leaves no temporary file
    write_atomic(path, json.dumps({"host": lease.host, "pid": lease.pid, "started": time.time()}))
    return lease


def held(lease: Lease) -> bool:
    h = holder_of(lease.path)
    return h is not None and (h["host"], int(h["pid"])) == (lease.host, lease.pid)


class LeaseLost(RuntimeError):
    """Another run took this run's lease over (it judged it stale): stop writing that shard."""


def renew(lease: Lease) -> None:
    """Heartbeat: the holder is alive and working. Raises LeaseLost if another run took it."""
    if not held(lease):
        raise LeaseLost(f"{lease.path.name}: taken over by another run")
    os.utime(lease.path)


def release(lease: Lease) -> None:
    if held(lease):
        lease.path.unlink(missing_ok=True)
