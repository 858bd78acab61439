"""The served process freezes its heap once the models are loaded; an app built inside another program does not."""

from __future__ import annotations

import gc

import pytest
from starlette.testclient import TestClient

from tokcount.server import create_app
from tokcount.settings import Settings

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared


def test_only_a_process_of_its_own_freezes_the_heap() -> None:
    gc.unfreeze()
    try:
        with TestClient(create_app(Settings())) as client:
            assert client.get("/readyz").status_code == 200
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(Settings(), owns_process=True)) as client:
            assert client.get("/readyz").status_code == 200
            assert gc.get_freeze_count() > 0  # startup's objects are out of the collector's way
    finally:
        gc.unfreeze()
