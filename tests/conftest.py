"""Fixtures every test directory may use."""

from __future__ import annotations

import pytest


@pytest.fixture()
def one_torch_thread():
    """Tiny models: one thread is faster and far steadier than two on a shared machine.

    Modules that fit or time small models use it for every test:
    `pytestmark = pytest.mark.usefixtures("one_torch_thread")`.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
