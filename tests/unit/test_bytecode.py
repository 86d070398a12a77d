"""The workflow module's bytecode cache, which saves every new workflow run a compile."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
from pathlib import Path
from types import ModuleType

import pytest

from worker.bytecode import cache_bytecode, is_current


def module_at(path: Path, text: str) -> ModuleType:
    path.write_text(text)
    module = ModuleType(path.stem)
    module.__file__ = str(path)
    return module


def cache_of(path: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(path)))


def test_a_module_without_a_cache_gets_one_that_python_loads_without_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "flow.py"
    module = module_at(source, "ANSWER = 42\n")

    cache_bytecode(module)

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the source was compiled again")

    # Python's own loader, as the sandbox's import uses it, takes the cache.
    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", no_compiling)
    code = importlib.machinery.SourceFileLoader("flow", str(source)).get_code("flow")
    assert code is not None
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["ANSWER"] == 42
    assert is_current(source, cache_of(source))


def test_a_cache_of_an_older_source_is_written_again(tmp_path: Path) -> None:
    source = tmp_path / "flow.py"
    cache_bytecode(module_at(source, "ANSWER = 42\n"))
    before = cache_of(source).read_bytes()

    cache_bytecode(module_at(source, "ANSWER = 4242\n"))

    assert cache_of(source).read_bytes() != before
    assert is_current(source, cache_of(source))


def test_a_cache_that_cannot_be_written_is_said_with_the_command_that_writes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "__pycache__").write_text("a file where the cache directory would go")
    module = module_at(tmp_path / "flow.py", "ANSWER = 42\n")

    with caplog.at_level(logging.WARNING, logger="worker.bytecode"):
        cache_bytecode(module)

    [record] = caplog.records
    assert "every new workflow compiles it again" in record.getMessage()
    assert f"python -m compileall {tmp_path}" in record.getMessage()
