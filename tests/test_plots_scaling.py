"""Data-scaling curve: the table's medians and quartiles are those of the per-gauge scores, the
CLI writes the figure and table, and runs scored on other gauges are refused."""
import numpy as np
import pandas as pd
import pytest

from dhbv.cli import main
from dhbv.errors import DhbvInputError
from dhbv.plots.scaling import plot_scaling_curve, scaling_table

GAUGES = ["01013500", "01022500", "01030500", "01031500", "01047000"]


def _scores(values):
    return pd.DataFrame({"gauge": GAUGES, "nse": values})


def test_table_holds_median_and_quartiles_of_the_scores():
    t = scaling_table({177: _scores([0.1, 0.5, 0.3, 0.9, 0.7]),
                       57: _scores([0.2, 0.4, np.nan, 0.6, 0.8])})
    assert list(t["training_gauges"]) == [57, 177]
    # 57: finite values 0.2 0.4 0.6 0.8 -> median 0.5; linear quartiles 0.35 and 0.65
    assert t.loc[0, ["scored_gauges", "nse_q25", "nse_median", "nse_q75"]].tolist() == \
        pytest.approx([4, 0.35, 0.5, 0.65])
    # 177: 0.1 0.3 0.5 0.7 0.9 -> 0.3 / 0.5 / 0.7
    assert t.loc[1, ["nse_q25", "nse_median", "nse_q75"]].tolist() == pytest.approx([0.3, 0.5, 0.7])


def test_runs_scored_on_other_gauges_are_refused():
    other = _scores([0.1] * 5).assign(gauge=GAUGES[:4] + ["02000000"])
    with pytest.raises(DhbvInputError, match="other gauges"):
        scaling_table({57: _scores([0.1] * 5), 117: other})


def test_cli_writes_figure_and_table(tmp_path, capsys):
    for n, v in ((57, [0.2, 0.4, 0.5, 0.6, 0.8]), (117, [0.3, 0.4, 0.6, 0.6, 0.9])):
        _scores(v).to_csv(tmp_path / f"s{n}.csv", index=False)
    png, csv = tmp_path / "curve.png", tmp_path / "curve.csv"
    assert main(["scaling-curve", "--scores", f"57={tmp_path / 's57.csv'}",
                 "--scores", f"117={tmp_path / 's117.csv'}", "--out", str(png),
                 "--table-out", str(csv)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    t = pd.read_csv(csv)
    assert t["nse_median"].tolist() == pytest.approx([0.5, 0.6])
    # the figure can be redrawn from the table alone
    assert main(["scaling-curve", "--table", str(csv), "--out", str(tmp_path / "b.png")]) == 0
    assert plot_scaling_curve(t, tmp_path / "c.png") == pytest.approx({57: 0.5, 117: 0.6})


def test_cli_bad_run_count_is_one_line(tmp_path, capsys):
    _scores([0.1] * 5).to_csv(tmp_path / "s.csv", index=False)
    assert main(["scaling-curve", "--scores", f"many={tmp_path / 's.csv'}",
                 "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "N=FILE" in err[0]
    assert not (tmp_path / "x.png").exists()
