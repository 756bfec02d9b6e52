"""Fixtures shared by the whole suite."""

import pytest

from helpers import no_fsync


@pytest.fixture(autouse=True)
def _fast_writes():
    with no_fsync():
        yield
