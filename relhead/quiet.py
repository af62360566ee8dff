"""Native libraries print device-probe warnings straight to the process' C stdout and stderr, out of
Python's reach: warp (imported by anny) says it found no CUDA driver when it starts, Cycles that it
could not load CUDA's or HIP's library when it first lists devices. On a CPU render they mean nothing.
`without_lines` runs a block with both streams captured and passes on every line but those named."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from contextlib import ExitStack, contextmanager

# What warp and Cycles print when a machine has no GPU driver, as the start of the line's message.
NO_GPU_DRIVER = ("Warp CUDA warning: Could not find or load the NVIDIA CUDA driver",
                 "WARNING CUEW initialization failed", "WARNING HIPEW initialization failed")


def _flush_all() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        ctypes.CDLL(None).fflush(None)  # the C library's buffers too
    except (OSError, AttributeError):
        pass


@contextmanager
def without_lines(noise: tuple[str, ...] = NO_GPU_DRIVER, fds: tuple[int, ...] = (1, 2)):
    """Run the block with file descriptors `fds` captured; afterwards write out what it printed,
    except the lines containing one of `noise`."""
    with ExitStack() as stack:
        captures = {fd: stack.enter_context(tempfile.TemporaryFile()) for fd in fds}
        _flush_all()
        saved = {fd: os.dup(fd) for fd in fds}
        try:
            for fd, cap in captures.items():
                os.dup2(cap.fileno(), fd)
            yield
        finally:
            _flush_all()
            for fd, cap in captures.items():
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                cap.seek(0)
                kept = [line for line in cap.read().splitlines(keepends=True)
                        if not any(n.encode() in line for n in noise)]
                if kept:
                    os.write(fd, b"".join(kept))
