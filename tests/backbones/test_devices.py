"""Device / amp selection and the hardware description."""

from __future__ import annotations

import json

import pytest
import torch

from csrbench import devices


def test_auto_device_and_amp() -> None:
    dev = devices.resolve_device("auto")
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    cpu = devices.resolve_device("cpu")
    assert devices.amp_dtype(cpu, True) is None  # amp is a GPU feature here
    assert devices.dtype_name(None) == "float32"
    assert devices.dtype_name(torch.bfloat16) == "bfloat16"
    with devices.autocast(cpu, None):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no CUDA GPU"):
        devices.resolve_device("cuda:0")


def test_bad_device_names() -> None:
    with pytest.raises(ValueError, match="not understood"):
        devices.resolve_device("gpu please")
    with pytest.raises(ValueError, match="not supported"):
        devices.resolve_device("meta")


def test_hardware_info_is_json_and_complete() -> None:
    info = devices.hardware_info()
    json.dumps(info)
    for key in ("cpu_model", "cpu_logical_cores", "torch", "torch_cuda_build", "gpus", "python"):
        assert key in info
    assert info["cpu_logical_cores"] >= 1 and info["torch"] == torch.__version__
    assert len(info["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    info["gpus"].append("mutated")
    assert "mutated" not in devices.hardware_info()["gpus"]


def test_torch_threads_context() -> None:
    before = torch.get_num_threads()
    with devices.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
