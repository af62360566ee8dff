"""Files the data depend on, named by where they come from, their name there and their content hash,
never by host path (what a scene spec and a corpus manifest record)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from relhead.configbase import Strict
from relhead.files import sha256_file


class AssetRef(Strict):
    """A file by its source (`bundled` with a dependency, or `user`), its name there ('/'-separated
    path inside its folder, or its file name) and the sha256 of its bytes."""

    source: Literal["bundled", "user"]
    name: str
    sha256: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


@lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)  # once per (path, size, mtime) in a process


def file_ref(path: str | Path, source: str = "user", name: str | None = None) -> AssetRef:
    """The AssetRef of a file on this host (hashed once per process while it is unchanged);
    FileNotFoundError naming the path when it is not a file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    st = p.stat()
    return AssetRef(source=source, name=name or p.name, sha256=_sha256(str(p.resolve()), st.st_size, st.st_mtime_ns))


# The first bytes of the float image formats Pillow cannot open (HDRIs, EXR textures).
_SIGNATURES = {".exr": (b"\x76\x2f\x31\x01",), ".hdr": (b"#?RADIANCE", b"#?RGBE")}


def image_problem(path: str | Path) -> str | None:
    """Why the image file `path` cannot be what its suffix says, or None: an OpenEXR or Radiance file
    must start with its format's signature (Blender reads them), any other image must decode whole
    with Pillow. Checked once per process while the file is unchanged."""
    p = Path(path)
    st = p.stat()
    return _image_problem(str(p.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4096)
def _image_problem(path: str, size: int, mtime_ns: int) -> str | None:
    suffix = Path(path).suffix.lower()
    try:
        if suffix in _SIGNATURES:
            with open(path, "rb") as f:
                head = f.read(16)
            if not head.startswith(_SIGNATURES[suffix]):
                return f"not a{'n OpenEXR' if suffix == '.exr' else ' Radiance HDR'} file (no {suffix} signature)"
            return None
        from PIL import Image

        with Image.open(path) as img:
            img.load()
    except Exception as exc:  # Pillow raises many kinds: unidentified, truncated, broken data
        return f"not a readable image ({str(exc) or type(exc).__name__})"
    return None


@dataclass(frozen=True)
class AssetPool:
    """The files a corpus samples from (`refs`, in a fixed order) and this host's file for each."""

    refs: tuple[AssetRef, ...]
    files: tuple[Path, ...]

    def path(self, ref: AssetRef) -> Path:
        try:
            return self.files[self.refs.index(ref)]
        except ValueError:
            raise FileNotFoundError(f"{ref} (sha256 {ref.sha256[:12]}...) is not in this host's pool") from None


def folder_pool(folder: str | None, key: str, suffixes: tuple[str, ...], why: str) -> AssetPool:
    """The files under a user `folder` (recursively) ending in `suffixes`, named by path inside it and
    content: FileNotFoundError naming the config `key` when there is no folder (`why`: which setting
    needs one), it is not a folder, or it holds no such file."""
    if not folder:
        raise FileNotFoundError(f"{key}: {why}")
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"{key}: {d} is not a folder")
    found = scan_folder(d, "user", suffixes)
    if not found:
        raise FileNotFoundError(f"{key}: no {'/'.join(suffixes)} files under {d}")
    return AssetPool(refs=tuple(r for r, _ in found.values()), files=tuple(p for _, p in found.values()))


def scan_folder(folder: Path, source: str, suffixes: tuple[str, ...]) -> dict[str, tuple[AssetRef, Path]]:
    """{name: (ref, file)} of the files under `folder` (recursively) ending in `suffixes`, named by
    their '/'-separated path inside it, in sorted order."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    out = {}
    for p in found:
        name = p.relative_to(folder).as_posix()
        out[name] = (file_ref(p, source, name), p)
    return out
