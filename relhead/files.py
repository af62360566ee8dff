"""Files written whole or not at all, file hashes, and output paths checked before the work.

Every file relhead writes goes to a hidden temporary name beside it (`temp_path`) and is renamed into
place (`os.replace`, atomic on one file system); a failure, a full disk included, removes the temporary
file again. A SIGKILL can leave one: `temp_files` finds them for the next run to remove.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from relhead.configbase import ConfigError


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def temp_path(path: str | Path) -> Path:
    """The hidden name this process writes `path` under before renaming it into place."""
    path = Path(path)
    return path.with_name(f"{'' if path.name.startswith('.') else '.'}{path.name}.tmp-{platform.node()}-{os.getpid()}")


def temp_files(path: str | Path) -> list[Path]:
    """Temporary files of `path` (temp_path of any process) that are still there."""
    path = Path(path)
    return sorted(path.parent.glob(f"{'' if path.name.startswith('.') else '.'}{path.name}.tmp-*"))


@contextmanager
def replacing(path: str | Path, parents: bool = False) -> Iterator[Path]:
    """Yields the temporary path to write `path`'s content to; renamed into place when the block ends
    without an exception, removed when it raises. `parents`: create the missing folders first."""
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str, fsync: bool = False, parents: bool = False) -> None:
    """Write `data` (text as UTF-8) to `path` whole or not at all; `fsync` before the rename."""
    with replacing(path, parents) as tmp, open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def write_json_atomic(path: str | Path, obj, fsync: bool = True, parents: bool = False) -> None:
    """Write `obj` as indented JSON to `path` whole or not at all (fsynced before the rename)."""
    write_atomic(path, json.dumps(obj, indent=1), fsync=fsync, parents=parents)


def write_problem(path: str | Path) -> str | None:
    """Why files cannot be created in folder `path` (created with its parents if missing), e.g.
    'Read-only file system', or None; nothing is left behind."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".relhead-write-probe-{platform.node()}-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def check_out_file(path: str | Path, option: str = "--out", example: str = "out.json") -> Path:
    """A ConfigError naming `option` and `path` when a file cannot be written at `path`: it is a folder,
    a part of its folder is a file, or the nearest existing folder cannot be written. Creates nothing:
    the writer makes the missing folders (write_atomic(..., parents=True)). Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give a file name, e.g. {path / example}")
    folder = next((p for p in path.parents if p.exists()), Path("."))
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot create or write there ({folder} is not writable)")
    return path
