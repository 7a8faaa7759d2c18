"""Per-unit tables that analysts bring: validation names file, column and lines."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.experiments.unit_table import UnitTableError, read_unit_table


def _write(tmp_path, text: str):
    path = tmp_path / "units.csv"
    path.write_text(text)
    return path


def test_reads_and_classifies_metrics(tmp_path):
    path = _write(
        tmp_path,
        "user,arm,converted,revenue,orders,visits,pre,chat\n"
        "a,control,0,0.0,0,1,2.5,c1\nb,treatment,1,30.5,2,4,0,c2\n",
    )
    table = read_unit_table(
        path,
        metrics=["converted", "revenue", "orders/visits"],
        unit="user",
        variant="arm",
        covariate="pre",
        cluster="chat",
    )
    assert table.frame["unit_id"].tolist() == ["a", "b"]
    assert [table.metric_kind(m) for m in table.metrics] == ["binary", "mean", "ratio"]
    assert table.covariate == "pre" and table.cluster == "chat"


def test_parquet_and_frames(tmp_path):
    frame = pd.DataFrame({"unit_id": [1, 2], "variant": ["control", "treatment"], "y": [1.0, 2]})
    frame.to_parquet(tmp_path / "u.parquet")
    assert read_unit_table(tmp_path / "u.parquet", metrics=["y"]).frame["unit_id"].tolist() == [
        "1",
        "2",
    ]
    assert len(read_unit_table(frame, metrics=["y"]).frame) == 2


@pytest.mark.parametrize(
    ("text", "metrics", "message"),
    [
        ("unit_id,variant\na,control\n", ["y"], r"missing columns \['y'\]"),
        ("unit_id,variant,y\na,control,1\na,treatment,2\n", ["y"], r"share a unit id \(lines 2, 3"),
        ("unit_id,variant,y\na,control,1\nb,treatment,abc\n", ["y"], r"'y'.*lines 3.*'abc'"),
        ("unit_id,variant,y\na,,1\n", ["y"], r"'variant': empty at lines 2"),
    ],
)
def test_errors_name_file_column_and_lines(tmp_path, text, metrics, message):
    path = _write(tmp_path, text)
    with pytest.raises(UnitTableError, match=message) as err:
        read_unit_table(path, metrics=metrics)
    assert str(path) in str(err.value)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(UnitTableError, match="file not found"):
        read_unit_table(tmp_path / "nope.csv", metrics=["y"])
    (tmp_path / "u.xlsx").write_text("")
    with pytest.raises(UnitTableError, match="unsupported file type"):
        read_unit_table(tmp_path / "u.xlsx", metrics=["y"])
