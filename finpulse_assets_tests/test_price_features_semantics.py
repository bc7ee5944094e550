"""Price features pinned against direct numpy computations, and grouped == each ticker alone.

Independent of how `features.price` computes them: every expected value here
is written out from the definitions in the module docstrings.
"""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.features.price import FEATURE_COLUMNS, MIN_HISTORY_BARS, features_by_ticker, price_features


def _bars(ticker="AAA", n=40, seed=0, start="2024-01-01"):
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    return pd.DataFrame({
        "ticker": ticker, "date": pd.bdate_range(start, periods=n),
        "open": open_, "high": np.maximum(open_, close) * 1.01, "low": np.minimum(open_, close) * 0.99,
        "close": close, "adj_close": close * 0.95, "volume": rng.integers(100, 5_000, n).astype(float),
    })


def _close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def test_values_match_their_definitions():
    bars = _bars()
    f = price_features(bars)
    adj, close, vol = bars["adj_close"].to_numpy(), bars["close"].to_numpy(), bars["volume"].to_numpy()
    t = 30
    _close(f["ret_1d"][t], adj[t] / adj[t - 1] - 1)
    _close(f["ret_10d"][t], adj[t] / adj[t - 10] - 1)
    _close(f["ma_ratio_20"][t], adj[t] / adj[t - 19:t + 1].mean() - 1)
    log_ret = np.diff(np.log(adj))  # log_ret[k] is the return into day k + 1
    _close(f["vol_10"][t], log_ret[t - 10:t].std(ddof=1) * np.sqrt(252))
    delta = np.diff(adj)[t - 14:t]
    gain, loss = np.clip(delta, 0, None).mean(), -np.clip(delta, None, 0).mean()
    _close(f["rsi_14"][t], 100 - 100 / (1 + gain / loss))
    lv = np.log1p(vol[t - 19:t + 1])
    _close(f["volume_z_20"][t], (lv[-1] - lv.mean()) / lv.std(ddof=1))
    _close(f["gap"][t], bars["open"][t] / close[t - 1] - 1)
    _close(f["target_log_return"][t], np.log(adj[t + 1] / adj[t]))


def test_windows_need_a_full_trailing_window():
    f = price_features(_bars())
    assert f["ma_ratio_5"].isna().tolist() == [True] * 4 + [False] * 36
    assert f["vol_20"].isna().tolist() == [True] * 20 + [False] * 20  # 20 returns need 21 bars
    assert f["rsi_14"].isna().tolist() == [True] * 14 + [False] * 26
    assert f["history_complete"].tolist() == [False] * (MIN_HISTORY_BARS - 1) + [True] * (41 - MIN_HISTORY_BARS)


def test_flat_prices_and_volumes():
    bars = _bars(n=45)
    bars.loc[5:30, ["open", "high", "low", "close", "adj_close"]] = 12.5
    bars.loc[10:35, "volume"] = 0.0
    f = price_features(bars)
    # No loss in the window: RSI is 100, even with no gain either.
    assert (f["rsi_14"][20:31] == 100.0).all()
    assert (f["vol_10"][16:31] == 0.0).all() and (f["ma_ratio_20"][24:31] == 0.0).all()
    # Twenty equal volumes have no spread: z is 0, not NaN and not rounding noise.
    assert (f["volume_z_20"][29:36] == 0.0).all()
    assert f["volume_z_20"][:19].isna().all()


def test_grouped_tickers_equal_each_ticker_alone():
    parts = [_bars("AAA", 40, 1), _bars("BBB", 12, 2, "2024-02-01"), _bars("CCC", 25, 3), _bars("DDD", 1, 4)]
    shuffled = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)
    together = features_by_ticker(shuffled)
    assert together["ticker"].tolist() == [p["ticker"][0] for p in parts for _ in range(len(p))]
    for part in parts:
        alone = price_features(part.drop(columns="ticker").iloc[::-1])
        mine = together[together["ticker"] == part["ticker"][0]].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine.drop(columns="ticker"), alone, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_inputs_give_rows_without_features(n):
    f = features_by_ticker(_bars(n=max(n, 1)).iloc[:n])
    assert len(f) == n
    windowed = [c for c in FEATURE_COLUMNS if c not in ("ret_1d", "log_ret_1d", "hl_range", "oc_return", "gap")]
    assert f[windowed].isna().all().all()
    assert not f["history_complete"].any()
