"""Loading and content hashing (tether.frame)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether import InputError, content_hash, iter_batches, read


@pytest.fixture
def mixed() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i": [1, None, 3, -4],
            "f": [1.5, float("nan"), None, float("inf")],
            "s": ["a", None, "ü日本", ""],
            "t": pl.Series(["2013-01-01T10:00:00Z"] * 4).str.to_datetime(time_zone="UTC"),
            "d": [dt.date(2013, 1, 1), None, dt.date(1969, 12, 31), dt.date(2100, 5, 5)],
            "b": [True, False, None, True],
        }
    )


def test_hash_is_identical_across_csv_parquet_pandas_arrow_and_polars(mixed, tmp_path):
    mixed.write_csv(tmp_path / "x.csv")
    mixed.write_parquet(tmp_path / "x.parquet")
    expected = content_hash(mixed)
    assert content_hash(tmp_path / "x.csv") == expected
    assert content_hash(str(tmp_path / "x.parquet")) == expected
    assert content_hash(mixed.to_arrow()) == expected
    assert content_hash(mixed.lazy()) == expected
    assert content_hash(mixed.to_pandas(use_pyarrow_extension_array=True)) == expected


def test_hash_is_pinned_to_the_documented_layout():
    # A changed digest here means lineage written by earlier versions no longer verifies.
    frame = pl.DataFrame({"x": [1, 2, None], "y": ["a", "b", "c"], "z": [0.5, None, -1.0]})
    assert content_hash(frame) == "sha256:" + _reference_digest(frame)
    assert content_hash(frame) == (
        "sha256:b6ae7334a8fc697ec5d3c8df77b1c0c21380ea1d31c6b534b1ed15dcd2a6701b"
    )


def _reference_digest(frame: pl.DataFrame) -> str:
    """The layout of content_hash written out by hand, for int, string and float columns."""
    import hashlib
    import struct

    total = hashlib.sha256(b"tether-frame-v1\0" + struct.pack("<QQ", frame.width, frame.height))
    for name in frame.columns:
        column = frame[name]
        validity = hashlib.sha256(column.is_null().to_numpy().astype(np.uint8).tobytes())
        if column.dtype == pl.String:
            texts = [v.encode() if v is not None else b"" for v in column.to_list()]
            tag = b"string"
            streams = [np.array([len(t) for t in texts], dtype="<u8").tobytes(), b"".join(texts)]
        elif column.dtype == pl.Float64:
            tag = b"float"
            streams = [np.array(column.fill_null(0.0).to_list(), dtype="<f8").tobytes()]
        else:
            tag = b"int"
            streams = [np.array(column.fill_null(0).to_list(), dtype="<i8").tobytes()]
        values = hashlib.sha256(b"".join(hashlib.sha256(s).digest() for s in streams))
        for raw in (name.encode(), tag):
            total.update(struct.pack("<Q", len(raw)) + raw)
        total.update(validity.digest() + values.digest())
    return total.hexdigest()


def test_hash_is_sensitive_to_values_names_types_and_order(mixed):
    base = content_hash(mixed)
    assert content_hash(mixed.with_columns(pl.col("i").fill_null(0))) != base
    assert content_hash(mixed.rename({"i": "j"})) != base
    assert content_hash(mixed.with_columns(pl.col("i").cast(pl.Float64))) != base
    assert content_hash(mixed.reverse()) != base
    assert content_hash(mixed.select(reversed(mixed.columns))) != base


def test_hash_distinguishes_null_from_zero_and_empty_string():
    assert content_hash(pl.DataFrame({"x": [0]})) != content_hash(
        pl.DataFrame({"x": [None]}, schema={"x": pl.Int64})
    )
    assert content_hash(pl.DataFrame({"s": [""]})) != content_hash(
        pl.DataFrame({"s": [None]}, schema={"s": pl.String})
    )


def test_hash_does_not_move_string_boundaries():
    # ["ab", "c"] and ["a", "bc"] concatenate to the same bytes; the lengths tell them apart.
    assert content_hash(pl.DataFrame({"s": ["ab", "c"]})) != content_hash(
        pl.DataFrame({"s": ["a", "bc"]})
    )


def test_hash_treats_widths_and_storage_units_as_one_logical_type():
    ints = pl.DataFrame({"x": [1, 2, 3]})
    assert content_hash(ints.cast(pl.Int32)) == content_hash(ints)
    stamps = pl.DataFrame({"t": [dt.datetime(2013, 1, 1, 5, 30)]})
    assert content_hash(stamps.cast({"t": pl.Datetime("ns")})) == content_hash(
        stamps.cast({"t": pl.Datetime("us")})
    )
    assert content_hash(stamps.with_columns(pl.col("t").cast(pl.String).cast(pl.Categorical))) == (
        content_hash(stamps.with_columns(pl.col("t").cast(pl.String)))
    )


def test_hash_keeps_nanoseconds_and_dates_before_1970():
    a = pl.DataFrame({"t": pl.Series([-1, 0], dtype=pl.Datetime("ns"))})
    b = pl.DataFrame({"t": pl.Series([-2, 0], dtype=pl.Datetime("ns"))})
    assert content_hash(a) != content_hash(b)


def test_every_nan_payload_hashes_the_same():
    payload = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)
    assert content_hash(pl.DataFrame({"x": payload})) == content_hash(
        pl.DataFrame({"x": [float("nan")]})
    )


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=60),
    batch_rows=st.integers(1, 7),
)
def test_hash_does_not_depend_on_batching(values, batch_rows):
    frame = pl.DataFrame(
        {"x": values, "s": [str(v) for v in values]}, schema={"x": pl.Int64, "s": pl.String}
    )
    batches = [frame.slice(i, batch_rows) for i in range(0, frame.height, batch_rows)]
    assert content_hash(batches) == content_hash(frame)


def test_hash_of_empty_frame_keeps_its_schema():
    empty_int = pl.DataFrame(schema={"x": pl.Int64})
    empty_str = pl.DataFrame(schema={"x": pl.String})
    assert content_hash(empty_int) != content_hash(empty_str)


def test_hash_rejects_nested_columns_by_name():
    with pytest.raises(InputError, match="'tags'"):
        content_hash(pl.DataFrame({"tags": [[1, 2]]}))


def test_read_accepts_every_documented_input(mixed, tmp_path):
    (tmp_path / "parts").mkdir()
    mixed.slice(0, 2).write_parquet(tmp_path / "parts" / "a.parquet")
    mixed.slice(2).write_parquet(tmp_path / "parts" / "b.parquet")
    assert read(tmp_path / "parts").equals(mixed)
    assert read(str(tmp_path / "parts" / "*.parquet")).equals(mixed)
    assert read(mixed.to_arrow()).equals(mixed)
    assert read(pa.RecordBatch.from_pandas(pd.DataFrame({"a": [1]}))).shape == (1, 1)
    assert read(pd.DataFrame({"a": [1, 2]})).to_dict(as_series=False) == {"a": [1, 2]}


def test_read_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="unknown file type"):
        read(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="matches no"):
        read(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="cannot read data of type int"):
        read(3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"columns \['zz'\]"):
        read(pl.DataFrame({"a": [1]}), columns=["zz"])
    with pytest.raises(InputError, match="mixes types"):
        read(pd.DataFrame({"a": [1, "x", 2.5]}))


def test_corrupt_parquet_is_an_input_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"bad\.parquet"):
        read(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="cannot be read"):
        list(iter_batches(tmp_path / "bad.parquet"))


def test_iter_batches_bounds_batch_size_and_keeps_every_row(tmp_path):
    frame = pl.DataFrame({"x": np.arange(10_000)})
    frame.write_parquet(tmp_path / "x.parquet", row_group_size=1_000)
    frame.write_csv(tmp_path / "x.csv")
    for source in (tmp_path / "x.parquet", tmp_path / "x.csv", frame, frame.lazy()):
        batches = list(iter_batches(source, batch_rows=3_000))
        assert all(b.height <= 3_000 for b in batches)
        assert pl.concat(batches).equals(frame)


def test_iter_batches_rejects_a_nonpositive_batch_size():
    with pytest.raises(InputError, match="batch_rows must be at least 1, got 0"):
        list(iter_batches(pl.DataFrame({"x": [1]}), batch_rows=0))
