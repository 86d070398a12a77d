"""The consumer's ports in memory, for the tests of the parts that use them (the handler, the
sweeper): a fresh store and workflow starter per test."""

from __future__ import annotations

import pytest

from tests.support.fakes import FakeOrderStore, FakeOrderWorkflows


@pytest.fixture
def store() -> FakeOrderStore:
    return FakeOrderStore()


@pytest.fixture
def workflows() -> FakeOrderWorkflows:
    return FakeOrderWorkflows()
