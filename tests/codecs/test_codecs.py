"""Codecs store codes in the bytes they claim, decode to what they encoded, and learn
their ranges from the codes they are fitted on alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csrbench.codecs import CODEC_CLASSES, Quantized, bitpack, codec, codec_names, index_bits
from csrbench.codes import SparseCodes


def sparse_codes(
    rng: np.random.Generator, n: int, k: int, h: int, scale: float = 1.0
) -> SparseCodes:
    indices = np.argsort(rng.random((n, h)), axis=1)[:, :k].astype(np.int16)
    values = (scale * rng.exponential(size=(n, k))).astype(np.float32)
    values[:, -1] = 0.0  # an inactive slot (ReLU after TopK)
    return SparseCodes(indices=indices, values=values, h=h)


def dense_codes(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return (rng.normal(size=(n, d)) * rng.uniform(0.2, 2.0, size=d)).astype(np.float32)


CASES = [(name, True) for name in codec_names(sparse=True)] + [(n, False) for n in codec_names()]


def test_registry_and_schema_name_the_same_codecs() -> None:
    import yaml

    schema = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml").read_text()
    )
    codecs = schema["$defs"]["evaluate"]["properties"]["codecs"]
    assert codecs["items"]["enum"] == codec_names() == codecs["default"]
    assert set(CODEC_CLASSES) == set(codec_names())


@pytest.mark.parametrize("widths", [[(5, 11), (5, 4)], [(3, 1)], [(7, 16), (7, 8)], [(2, 32)]])
def test_bitpack_round_trips_and_takes_the_bytes_it_says(widths: list[tuple[int, int]]) -> None:
    rng = np.random.default_rng(1)
    fields = [(rng.integers(0, 2**bits, size=(9, m), dtype=np.uint64), bits) for m, bits in widths]
    packed = bitpack.pack(fields)
    assert packed.shape == (9, -(-sum(m * b for m, b in widths) // 8))
    for (words, _), back in zip(fields, bitpack.unpack(packed, widths), strict=True):
        np.testing.assert_array_equal(back, words)


def test_bitpack_layout_is_little_endian_per_row() -> None:
    # 4-bit words 1, 2, 3 -> bytes 0x21, 0x03: the first word in the low nibble
    packed = bitpack.pack([(np.array([[1, 2, 3]]), 4)])
    assert packed.tolist() == [[0x21, 0x03]]


def test_bitpack_refuses_a_word_wider_than_its_bits() -> None:
    with pytest.raises(ValueError, match="does not fit in 4 bits"):
        bitpack.pack([(np.array([[16]]), 4)])


@pytest.mark.parametrize(
    ("name", "h_or_d", "k", "expected"),
    [("f16", 1536, 16, 54), ("sq8", 1536, 16, 38), ("sq4", 1536, 16, 30), ("sq4", 1536, 8, 15)],
)
def test_sparse_bytes_per_doc_pack_ids_at_log2_h_bits(
    name: str, h_or_d: int, k: int, expected: int
) -> None:
    rng = np.random.default_rng(0)
    codes = sparse_codes(rng, 20, k, h_or_d)
    assert index_bits(h_or_d) == 11
    assert codec(name).fit(codes).encode(codes).bytes_per_doc == expected


@pytest.mark.parametrize(
    ("name", "expected"), [("f16", 768), ("sq8", 384), ("sq4", 192), ("bin", 48)]
)
def test_dense_bytes_per_doc(name: str, expected: int) -> None:
    x = dense_codes(np.random.default_rng(0), 30, 384)
    assert codec(name).fit(x).encode(x).bytes_per_doc == expected


@pytest.mark.parametrize(("name", "sparse"), CASES)
def test_the_stored_files_are_the_byte_counts_and_decode_the_same(
    tmp_path: Path, name: str, sparse: bool
) -> None:
    rng = np.random.default_rng(2)
    train = sparse_codes(rng, 200, 12, 300) if sparse else dense_codes(rng, 200, 40)
    db = sparse_codes(rng, 57, 12, 300) if sparse else dense_codes(rng, 57, 40)
    book = codec(name).fit(train)
    q = book.encode(db)
    q.pack().tofile(tmp_path / "codes.bin")
    (tmp_path / "tables.bin").write_bytes(book.tables_bytes())
    assert (tmp_path / "codes.bin").stat().st_size == db_rows(db) * q.bytes_per_doc
    assert (tmp_path / "tables.bin").stat().st_size == book.index_bytes
    raw = np.fromfile(tmp_path / "codes.bin", dtype=np.uint8).reshape(db_rows(db), -1)
    m = db.k if sparse else db.shape[1]
    back = Quantized.unpack(raw, name, m, 300 if sparse else 40, q.value_bits, sparse)
    a, b = book.decode(q), book.decode(back)
    if sparse:
        np.testing.assert_array_equal(a.indices, b.indices)
        a, b = a.values, b.values
    np.testing.assert_array_equal(a, b)


def db_rows(x: SparseCodes | np.ndarray) -> int:
    return x.n if isinstance(x, SparseCodes) else len(x)


@pytest.mark.parametrize(("name", "bits"), [("sq8", 8), ("sq4", 4)])
def test_uniform_decodes_within_half_a_step_of_the_training_range(name: str, bits: int) -> None:
    rng = np.random.default_rng(3)
    train, db = dense_codes(rng, 500, 24), dense_codes(rng, 100, 24)
    book = codec(name).fit(train)
    lo, hi = train.min(axis=0), train.max(axis=0)
    step = (hi - lo) / (2**bits - 1)
    np.testing.assert_allclose(book.tables["lo"], lo, rtol=1e-6)
    np.testing.assert_allclose(book.tables["step"], step, rtol=1e-6)
    decoded = book.decode(book.encode(db))
    clipped = np.clip(db, lo, hi)  # a value beyond the training range goes to its end
    assert np.all(np.abs(decoded - clipped) <= step / 2 + 1e-5)
    assert decoded.min() >= lo.min() - 1e-6 and decoded.max() <= hi.max() + 1e-6


def test_sparse_uniform_keeps_zero_exact_and_ranges_per_latent() -> None:
    rng = np.random.default_rng(4)
    train = sparse_codes(rng, 400, 10, 50)
    book = codec("sq4").fit(train)
    assert np.all(book.tables["lo"] == 0)
    # latent j's range is the largest training value it takes, from the codes themselves
    expected = np.zeros(50)
    np.maximum.at(expected, train.indices.astype(np.int64).ravel(), train.values.ravel())
    used = np.bincount(train.indices.astype(np.int64).ravel(), minlength=50) > 0
    np.testing.assert_allclose(book.tables["step"][used], expected[used] / 15, rtol=1e-6)
    decoded = book.decode(book.encode(train))
    assert np.all(decoded.values[train.values == 0] == 0)
    np.testing.assert_array_equal(decoded.indices, train.indices)


def test_f16_is_the_float16_cast() -> None:
    x = dense_codes(np.random.default_rng(5), 10, 7)
    book = codec("f16").fit(x)
    np.testing.assert_array_equal(
        book.decode(book.encode(x)), x.astype(np.float16).astype(np.float32)
    )
    assert book.index_bytes == 0


def test_binary_levels_are_the_training_means_on_each_side() -> None:
    rng = np.random.default_rng(6)
    train, db = dense_codes(rng, 300, 9), dense_codes(rng, 40, 9)
    book = codec("bin").fit(train)
    mean = train.mean(axis=0)
    high = np.array([train[train[:, j] > mean[j], j].mean() for j in range(9)])
    low = np.array([train[train[:, j] <= mean[j], j].mean() for j in range(9)])
    decoded = book.decode(book.encode(db))
    np.testing.assert_allclose(decoded, np.where(db > mean, high, low), rtol=1e-5, atol=1e-6)


def test_the_codebook_depends_on_the_training_codes_only() -> None:
    rng = np.random.default_rng(7)
    train = dense_codes(rng, 100, 6)
    book = codec("sq8").fit(train)
    before = {k: v.copy() for k, v in book.tables.items()}
    book.encode(1000 * dense_codes(rng, 50, 6))  # far outside the range: clipped, not learnt
    assert all(np.array_equal(before[k], book.tables[k]) for k in before)


def test_bad_input_names_the_problem() -> None:
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="unknown codec 'int3'; known codecs: f16, sq8, sq4, bin"):
        codec("int3")
    with pytest.raises(ValueError, match="bin applies to dense codes only"):
        codec("bin").fit(sparse_codes(rng, 10, 4, 20))
    book = codec("sq8").fit(dense_codes(rng, 10, 5))
    with pytest.raises(ValueError, match="fitted on dense codes of width 5"):
        book.encode(dense_codes(rng, 10, 6))
    with pytest.raises(ValueError, match="needs training codes"):
        codec("sq8").fit(np.zeros((0, 5), dtype=np.float32))


@pytest.mark.parametrize("bits", [1, 4, 8, 16])
@pytest.mark.parametrize("m", [7, 8])
def test_whole_byte_fields_pack_as_the_bit_planes_do(
    bits: int, m: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = np.random.default_rng(bits).integers(0, 2**bits, size=(40, m), dtype=np.uint64)
    fast = bitpack.pack([(words, bits)])
    # the generic path: the same field as bit planes, three rows at a time
    monkeypatch.setattr(bitpack, "CHUNK_ROWS", 3)
    planes = bitpack.pack([(words, bits), (np.zeros((40, 0), np.uint64), 1)])
    np.testing.assert_array_equal(fast, planes)
    np.testing.assert_array_equal(bitpack.unpack(fast, [(m, bits)])[0], words)
