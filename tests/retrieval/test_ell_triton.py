"""The `ell-triton` engine: its interpreted checks in a process of their own, and what it
says on a machine without a GPU.

`ell_triton_interpreted.py` holds the checks against exact search; it runs here in a
fresh pytest process with TRITON_INTERPRET=1 (why, in its docstring) and a private
temporary directory, so it never touches this session's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from csrbench.retrieval import ENGINES, available_engines, make_engine
from csrbench.retrieval import ell_triton as ell

CHECKS = Path(__file__).with_name("ell_triton_interpreted.py")


def test_the_kernel_matches_exact_search_in_triton_s_interpreter(tmp_path: Path) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--basetemp={tmp_path / 'inner'}", str(CHECKS)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout, proc.stdout[-2000:]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU for Triton")
def test_without_a_gpu_it_is_unavailable_and_says_what_to_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert "ell-triton" in ENGINES and "ell-triton" not in available_engines("sparse")
    with pytest.raises(RuntimeError, match=r"ell-triton.*cannot run here"):
        make_engine("ell-triton")
    with pytest.raises(RuntimeError, match=r"runs on a CUDA GPU.*use 'inverted'"):
        ell.EllTriton()
