"""The workflow module's bytecode cache, written before the worker polls.

Temporal's workflow sandbox imports the workflow module afresh for every new workflow run. With
no bytecode cache beside the source, as wherever `PYTHONDONTWRITEBYTECODE` is set, each of those
imports compiles the source again: measured at full speed, 11% of the worker's busy time. With a
valid cache, an import only loads it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import py_compile
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)


def cache_bytecode(module: ModuleType) -> None:
    """Write `module`'s bytecode cache unless a valid one is there; when it cannot be written
    (a read-only tree), say so and what it costs."""
    source = Path(str(module.__file__))
    cached = Path(importlib.util.cache_from_source(str(source)))
    if is_current(source, cached):
        return
    try:
        py_compile.compile(str(source), cfile=str(cached), doraise=True)
    except (OSError, py_compile.PyCompileError) as error:
        log.warning(
            "no bytecode cache for %s (%s): every new workflow compiles it again; "
            "run `python -m compileall %s` where the code is installed",
            source, error, source.parent,
        )  # fmt: skip


def is_current(source: Path, cached: Path) -> bool:
    """Whether `cached` is a timestamp-checked cache of `source` that this Python would load:
    its magic number, and the source's modification time and size (PEP 552)."""
    try:
        header = cached.read_bytes()[:16]
        stat = os.stat(source)
    except OSError:
        return False
    flags = int.from_bytes(header[4:8], "little")
    return (
        len(header) == 16
        and header[:4] == importlib.util.MAGIC_NUMBER
        and flags == 0
        and int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF
    )
