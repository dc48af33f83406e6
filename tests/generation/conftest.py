"""Fixtures shared by the diffusers tests: the tiny models (built once per
session, on disk) and a backend with a model manager of its own."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    pytest.importorskip("diffusers")
    import tiny_models as tm

    return tm.build_all(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="module")
def manager():
    from canvas_app.generation.model_manager import ModelManager

    manager = ModelManager(budget_bytes=1 << 34)
    yield manager
    manager.unload_all()


@pytest.fixture()
def backend(manager):
    from canvas_app.generation.diffusers.backend import DiffusersBackend

    return DiffusersBackend(manager=manager)


