"""Shard files: an atomic tar writer and a streaming group/pair reader.

A shard is a plain tar (webdataset layout: files `<key>.<name>`) written under a temporary name
and renamed when complete, so a crash never leaves a shard that looks finished. The reader checks
each shard against the corpus manifest (sha256) before streaming it, and names the shard and the
problem when one is corrupt.
"""

from __future__ import annotations

import io
import os
import platform
import re
import tarfile
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Literal

from relhead.datasets.manifest import file_problem, read_manifest
from relhead.datasets.sample import Group, unpack


class CorruptShard(RuntimeError):
    """A shard that is truncated, altered or unreadable; the message names the shard."""


class ShardWriter:
    """Write groups into one tar shard; `close()` renames it into place. Use as a context manager:
    on an exception the partial file is removed (a SIGKILL leaves it, hidden; see `remove_partials`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f"{_partial_prefix(self.path)}{platform.node()}-{os.getpid()}")
        self._tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)

    def write(self, key: str, files: dict[str, bytes]) -> None:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{key}.{name}")
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644  # byte-reproducible
            self._tar.addfile(info, io.BytesIO(files[name]))

    def close(self) -> None:
        try:
            self._tar.close()
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        except BaseException:  # the last blocks did not fit (a full disk): no partial file stays
            self.tmp.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        try:
            self._tar.close()  # writes the end-of-archive blocks, which fail again on a full disk
        except OSError:
            pass
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.abort() if exc_type else self.close()


def _partial_prefix(path: Path) -> str:
    return f".{Path(path).name}.partial-"


def partials(path: Path) -> list[Path]:
    """Temporary files a killed writer of shard `path` left behind."""
    path = Path(path)
    return sorted(path.parent.glob(f"{_partial_prefix(path)}*"))


def remove_partials(path: Path) -> list[Path]:
    found = partials(path)
    for p in found:
        p.unlink(missing_ok=True)
    return found


def group_key(group: int) -> str:
    return f"{group:09d}"


def hash_problem(path: Path, manifest: dict | None) -> str | None:
    """Why `path` does not match its manifest entry, or None when it does (or nothing is recorded)."""
    path = Path(path)
    entry = next((e for e in (manifest or {}).get("shards", {}).values() if e["file"] == path.name), None)
    if not entry or entry.get("status") != "done":
        return None
    return file_problem(path, entry)


OnCorrupt = Literal["raise", "skip"]


def _corrupt(shard: Path, problem: str, on_corrupt: OnCorrupt) -> None:
    msg = f"{shard}: {problem}"
    if on_corrupt == "raise":
        raise CorruptShard(msg)
    warnings.warn(f"skipping corrupt shard {msg}", stacklevel=3)


def iter_groups(shards: str | Path | Iterable[str | Path], on_corrupt: OnCorrupt = "raise",
                check_hash: bool = True) -> Iterator[Group]:
    """Stream groups (relhead.datasets.sample.Group) from tar shards with webdataset's tar iterators:
    a list of shards, one shard, or a corpus folder (its shards in order).

    A shard is read whole (tens of MB) before its groups are yielded, so a corrupt shard yields
    nothing. Before that, a shard the manifest beside it lists as done has its size and sha256
    checked (`check_hash`). A corrupt shard raises :class:`CorruptShard` naming the shard and the
    problem, or, with `on_corrupt="skip"`, is skipped with a warning."""
    if isinstance(shards, (str, Path)):  # not a string's characters
        one = Path(shards)
        shards = sorted(one.glob("shard-*.tar")) if one.is_dir() else [one]
        if not shards:
            raise FileNotFoundError(f"{one}: no shard-*.tar in this folder")
    manifests: dict[Path, dict | None] = {}
    for shard in map(Path, shards):
        if check_hash:
            if shard.parent not in manifests:
                manifests[shard.parent] = read_manifest(shard.parent)
            problem = hash_problem(shard, manifests[shard.parent])
            if problem:
                _corrupt(shard, problem, on_corrupt)
                continue
        try:
            groups = read_shard(shard)
        except CorruptShard as exc:
            _corrupt(shard, exc.args[0], on_corrupt)
            continue
        yield from groups


def member_problem(shard: Path) -> str | None:
    """Why the tar `shard` holds something relhead never writes (every member is a regular file;
    webdataset's reader passes over links and folders without a word), "unreadable: ..." when it is
    no tar, or None. Reads the headers only: tarfile seeks past each member's data."""
    return _members(shard)[0]


def _members(shard: Path) -> tuple[str | None, list[str]]:
    """(member_problem's answer, the member names read before it)."""
    names = []
    try:
        with tarfile.open(shard, "r:") as tar:
            for m in tar:
                if not m.isreg():
                    what = (f"a symbolic link to {m.linkname}" if m.issym() else f"a hard link to {m.linkname}"
                            if m.islnk() else "a folder" if m.isdir() else "a special file")
                    return f"member {m.name} is {what}; relhead writes only regular files (not a relhead shard, or altered)", names
                names.append(m.name)
    except (tarfile.TarError, OSError) as exc:
        return f"unreadable: {exc}", names
    return None, names


def read_shard(shard: Path) -> list[Group]:
    """All groups of one shard, as iter_groups yields them; CorruptShard("unreadable: ...") when
    the tar, a group's JSON or its format is broken, CorruptShard(member_problem) when it holds a
    link, a folder or a special file."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    out = []
    try:
        problem = member_problem(shard)
        if problem:
            raise CorruptShard(problem)
        with open(shard, "rb") as stream:
            files = ({**f, "__url__": str(shard)} for f in tar_file_iterator(stream))
            for sample in group_by_keys(files):
                body = {k: v for k, v in sample.items() if not k.startswith("__")}
                out.append(unpack(sample["__key__"], body, str(shard)))
    except (tarfile.TarError, OSError, ValueError) as exc:
        detail = str(exc.args[0] if exc.args else exc).split(" @ ")[0]  # webdataset appends " @ <stream>"
        raise CorruptShard(f"unreadable: {detail}") from None
    return out


VIEW_IMAGE = re.compile(r"view(\d+)\.(png|jpg|jpeg|webp)")  # a view's image member, after its group key


def shard_index(shard: Path, on_corrupt: OnCorrupt = "raise", check_hash: bool = True) -> list[tuple[int, int]]:
    """(group id, view count) of each group of one shard, in the order iter_groups yields them, from its
    tar headers alone, after the checks iter_groups makes before it reads (size and sha256 against the
    manifest, every member a regular file): for a reader that passes over groups without decoding them
    (a resumed training stream). A corrupt shard raises CorruptShard, or with `on_corrupt="skip"` gives []."""
    shard = Path(shard)
    problem = hash_problem(shard, read_manifest(shard.parent)) if check_hash else None
    names = []
    if not problem:
        problem, names = _members(shard)
    if problem:
        _corrupt(shard, problem, on_corrupt)
        return []
    out: dict[str, int] = {}
    for name in names:
        key, _, rest = name.partition(".")
        out[key] = out.get(key, 0) + bool(VIEW_IMAGE.fullmatch(rest))
    if not all(k.isdigit() for k in out):
        _corrupt(shard, f"unreadable: a member's key is not a group id ({next(k for k in out if not k.isdigit())!r})",
                 on_corrupt)
        return []
    return [(int(k), n) for k, n in out.items()]


def iter_pairs(shards: Iterable[str | Path], tags: set[str] | None = None, **reader) -> Iterator[dict]:
    """Expand groups to anchor/query pairs (images stay bytes; decode where you train)."""
    for g in iter_groups(shards, **reader):
        yield from g.iter_pairs(tags)
