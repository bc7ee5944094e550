"""The Yahoo price CSV source (finpulse_assets.sources.yahoo_csv) on small files written to tmp_path."""

import os
from datetime import date

import pytest

from finpulse_assets.sources.cleaning import clean_prices
from finpulse_assets.sources import yahoo_csv
from finpulse_assets.sources.base import RAW_PRICE_COLUMNS, SourceFileError
from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource

HEADER = b"Date,Open,High,Low,Close,Adj Close,Volume\n"
AAPL = HEADER + (
    b"2015-01-02,111.39,111.44,107.35,109.33,100.45,53204600\n"
    b"2015-01-05,108.29,108.65,105.41,106.25,97.62,64285500\n"
    b"01/06/2015,106.54,107.43,104.63,106.26,97.63,65797100\n"  # m/d/Y: every day <= 12, so date_order says
    b"someday,1,1,1,1,1,1\n"
    b"2015-01-07,107.20,108.20,106.70,107.75,99.00,40105900\n"
    b"2015-01-08,109.23,112.15,108.70,111.89,102.80,null\n"  # Yahoo's missing value, kept as found
)
MSFT = HEADER + (b"2015-01-02,46.66,47.42,46.54,46.76,41.25,27913900\n"
                 b"2015-01-05,46.37,46.73,46.25,46.33,40.87,39673900\n")


@pytest.fixture(autouse=True)
def _fresh_cache():
    yahoo_csv._CACHE.clear()
    yield
    yahoo_csv._CACHE.clear()


@pytest.fixture
def source(tmp_path):
    (tmp_path / "AAPL.csv").write_bytes(AAPL)
    (tmp_path / "msft.csv").write_bytes(MSFT)
    (tmp_path / "notes.txt").write_text("not a price file")
    return YahooCsvPriceSource(directory=str(tmp_path), date_order="month-first")


def test_rows_as_found_in_raw_columns(source):
    out = source.load_prices(["AAPL", "MSFT"], date(2015, 1, 2), date(2015, 1, 8))
    assert list(out.columns) == RAW_PRICE_COLUMNS
    assert all(isinstance(v, str) for col in RAW_PRICE_COLUMNS for v in out[col])
    first = out.iloc[0].to_dict()
    assert first == {"ticker": "AAPL", "date": "2015-01-02", "open": "111.39", "high": "111.44", "low": "107.35",
                     "close": "109.33", "adj_close": "100.45", "volume": "53204600"}
    assert out.loc[out["date"] == "2015-01-08", "volume"].item() == "null"
    assert list(out.loc[out["ticker"] == "MSFT", "date"]) == ["2015-01-02", "2015-01-05"]


def test_date_window_is_inclusive_and_unparseable_dates_are_kept(source):
    out = source.load_prices(["AAPL"], date(2015, 1, 5), date(2015, 1, 6))
    assert list(out["date"]) == ["2015-01-05", "2015-01-06", "someday"]
    clean, rejects = clean_prices(out)
    assert list(rejects["reason"]) == ["unparseable_date"]
    assert len(clean) == 2


def test_dates_saved_with_utc_offsets_filter_by_their_local_day(tmp_path):
    (tmp_path / "X.csv").write_bytes(HEADER + b"2015-03-06 00:00:00-05:00,1,1,1,1,1,1\n"
                                              b"2015-03-09 00:00:00-04:00,1,1,1,1,1,1\n"
                                              b"2015-03-10 00:00:00-04:00,1,1,1,1,1,1\n")
    out = YahooCsvPriceSource(directory=str(tmp_path)).load_prices(["X"], date(2015, 3, 6), date(2015, 3, 9))
    assert list(out["date"]) == ["2015-03-06 00:00:00-05:00", "2015-03-09 00:00:00-04:00"]


def test_ticker_filtering_and_available_tickers(source):
    assert set(source.load_prices(["MSFT"], date(2015, 1, 1), date(2015, 12, 31))["ticker"]) == {"MSFT"}
    assert source.available_tickers() == ["AAPL", "MSFT"]
    assert source.load_prices([], date(2015, 1, 1), date(2015, 12, 31)).columns.tolist() == RAW_PRICE_COLUMNS


def test_missing_ticker_file_names_path_and_ticker(source, tmp_path):
    with pytest.raises(SourceFileError) as err:
        source.load_prices(["AAPL", "TSLA"], date(2015, 1, 1), date(2015, 1, 9))
    assert err.value.path == str(tmp_path / "TSLA.csv")
    assert "'TSLA'" in str(err.value)
    with pytest.raises(SourceFileError, match="price directory not found"):
        YahooCsvPriceSource(directory=str(tmp_path / "nowhere")).available_tickers()


def test_missing_column_names_file_column_and_expected_columns(tmp_path):
    (tmp_path / "AAPL.csv").write_bytes(b"Date,Open,High,Low,Close,Volume\n2015-01-02,1,1,1,1,1\n")
    with pytest.raises(SourceFileError) as err:
        YahooCsvPriceSource(directory=str(tmp_path)).load_prices(["AAPL"], date(2015, 1, 1), date(2015, 1, 9))
    assert err.value.path.endswith("AAPL.csv") and err.value.column == "Adj Close"
    assert "AAPL.csv" in str(err.value) and "'Adj Close'" in str(err.value)
    assert "Date, Open, High, Low, Close, Adj Close, Volume" in str(err.value)


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (HEADER + b'2015-01-02,"1,1,1,1,1,1\n', "unclosed quote: the quoted field that starts on line 2"),
    (HEADER + b"2015-01-02,1,1,1,1,1,1\n2015-01-05,1,1,1,1,1,1,1,1\n", "unreadable CSV"),
    (bytes(range(256)) * 4 + b"\x00,\x01\n\x02,\x03,\x04\n", ""),
])
def test_unreadable_csv(tmp_path, content, problem):
    (tmp_path / "AAPL.csv").write_bytes(content)
    with pytest.raises(SourceFileError, match=f"AAPL.csv: {problem}"):
        YahooCsvPriceSource(directory=str(tmp_path)).load_prices(["AAPL"], date(2015, 1, 1), date(2015, 1, 9))


def test_invalid_utf8_does_not_crash_the_read(tmp_path):
    (tmp_path / "AAPL.csv").write_bytes(HEADER + b"2015-01-02,1\xff,1,1,1,1,1\n")
    out = YahooCsvPriceSource(directory=str(tmp_path)).load_prices(["AAPL"], date(2015, 1, 1), date(2015, 1, 9))
    assert out["open"].item() == "1\udcff"
    assert list(clean_prices(out)[1]["reason"]) == ["non_numeric_price"]


def test_files_are_parsed_once_until_they_change(source, tmp_path, monkeypatch):
    reads = []
    from finpulse_assets.sources import csv_files
    real_read_bytes = csv_files._read_bytes
    monkeypatch.setattr(csv_files, "_read_bytes", lambda path, where: reads.append(str(path)) or real_read_bytes(path, where))
    for day in range(2, 9):
        source.load_prices(["AAPL", "MSFT"], date(2015, 1, day), date(2015, 1, day))
    assert sorted(os.path.basename(p) for p in reads) == ["AAPL.csv", "msft.csv"]

    path = tmp_path / "msft.csv"
    path.write_bytes(MSFT + b"2015-01-06,46.38,46.75,45.54,46.29,40.84,36447900\n")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    out = source.load_prices(["MSFT"], date(2015, 1, 6), date(2015, 1, 6))
    assert list(out["close"]) == ["46.29"]
    assert len(reads) == 3
