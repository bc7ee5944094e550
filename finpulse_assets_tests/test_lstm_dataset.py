"""Windows: one ticker each, only rows <= t, consecutive days; date splits; train-only scaling."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.models.lstm.dataset import Scaler, Split, build_windows, time_split, time_split_fractions


def _frame(tickers=("AAA", "BBB"), n=30, start="2024-01-01"):
    """feat = date ordinal, code = ticker number; targets chained like price_features writes them."""
    parts = []
    for code, ticker in enumerate(tickers):
        dates = pd.bdate_range(start, periods=n)
        close = 100.0 + code * 10 + np.arange(n)
        parts.append(pd.DataFrame({
            "ticker": ticker, "date": dates,
            "feat": [d.toordinal() for d in dates], "code": float(code),
            "close": close, "history_complete": True,
            "target_date": pd.Series(dates).shift(-1).to_numpy(),
            "target_close": pd.Series(close).shift(-1).to_numpy(),
            "target_log_return": np.log(pd.Series(close).shift(-1) / close).to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True)


def test_windows_never_cross_tickers():
    w = build_windows(_frame(), ["feat", "code"], window=5)
    codes = w.X[:, :, 1]
    assert (codes == codes[:, :1]).all()  # one ticker per window
    assert np.array_equal(codes[:, 0], np.where(w.tickers == "AAA", 0.0, 1.0))
    assert len(w) == 2 * (30 - 5 + 1 - 1)  # the last day of each ticker has no target


def test_window_uses_only_rows_up_to_t_and_consecutive_days():
    frame = _frame()
    w = build_windows(frame, ["feat"], window=4)
    t_ordinal = np.array([pd.Timestamp(d).toordinal() for d in w.dates])
    feat = w.X[:, :, 0]
    assert np.array_equal(feat.max(axis=1), t_ordinal)
    assert np.array_equal(feat[:, -1], t_ordinal)
    # rows t-3..t are the 4 trading days ending at t (Mon-Fri gaps are 1 or 3 calendar days)
    assert set(np.unique(np.diff(feat, axis=1))) <= {1.0, 3.0}
    assert (w.target_dates > w.dates).all()
    row = frame.set_index(["ticker", "date"]).loc[(w.tickers[0], pd.Timestamp(w.dates[0]))]
    assert w.close_t[0] == row["close"] and w.target_close[0] == row["target_close"]
    assert np.array_equal(w.close_history[:, -1], w.close_t)


def test_incomplete_history_missing_target_and_gaps_are_dropped():
    frame = _frame(tickers=("AAA",), n=20)
    frame.loc[:2, "history_complete"] = False
    frame.loc[10, "target_log_return"] = np.nan
    w = build_windows(frame, ["feat"], window=3)
    dates = set(pd.DatetimeIndex(w.dates))
    assert frame.loc[4, "date"] not in dates      # window 2..4 holds an incomplete row
    assert frame.loc[5, "date"] in dates          # window 3..5 is clean
    assert frame.loc[10, "date"] not in dates     # no target

    gapped = _frame(tickers=("AAA",), n=20).drop(index=8)  # a missing day: row 7's target_date is row 8
    w = build_windows(gapped, ["feat"], window=3)
    ends = set(pd.DatetimeIndex(w.dates))
    dates = gapped["date"]
    assert dates[9] not in ends and dates[10] not in ends  # would span the gap
    assert dates[11] in ends


def test_unlabelled_windows_for_serving_include_the_last_day():
    frame = _frame(tickers=("AAA",), n=10)
    w = build_windows(frame, ["feat"], window=3, target=None)
    assert pd.Timestamp(w.dates[-1]) == frame["date"].max()
    assert np.isnan(w.y).all()


def test_time_split_is_by_date_and_ordered():
    w = build_windows(_frame(n=60), ["feat"], window=5)
    split = time_split(w, "2024-02-01", "2024-03-01")
    assert split.train.dates.max() < split.val.dates.min() <= split.val.dates.max() < split.test.dates.min()
    assert len(split.train) + len(split.val) + len(split.test) == len(w)
    for part in split:  # every ticker in every part: cut dates are shared
        assert set(part.tickers) == {"AAA", "BBB"}

    frac = time_split_fractions(w, val_frac=0.2, test_frac=0.2)
    assert frac.train.dates.max() < frac.val.dates.min() and frac.val.dates.max() < frac.test.dates.min()
    assert abs(len(np.unique(frac.test.dates)) - 0.2 * len(np.unique(w.dates))) <= 1


def test_time_split_rejects_reversed_cuts():
    w = build_windows(_frame(n=60), ["feat"], window=5)
    with pytest.raises(ValueError):
        time_split(w, "2024-03-01", "2024-02-01")


def test_scaler_is_fit_on_train_only_and_round_trips():
    w = build_windows(_frame(n=60), ["feat", "code"], window=5)
    split: Split = time_split_fractions(w, 0.2, 0.2)
    scaler = Scaler.fit(split.train.X)
    train_scaled = scaler.transform(split.train.X).reshape(-1, 2)
    np.testing.assert_allclose(train_scaled.mean(axis=0), 0, atol=1e-5)
    # date ordinals grow: later splits sit above the training mean, which a full-data fit would hide
    assert scaler.transform(split.test.X)[:, :, 0].min() > 1.0
    assert not np.allclose(scaler.mean, Scaler.fit(w.X).mean)
    again = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(split.val.X), scaler.transform(split.val.X))


def test_select_features_keeps_rows_and_order():
    w = build_windows(_frame(), ["feat", "code"], window=5)
    only = w.select_features(["code"])
    assert only.feature_columns == ("code",)
    np.testing.assert_array_equal(only.X[:, :, 0], w.X[:, :, 1])
    np.testing.assert_array_equal(only.dates, w.dates)
