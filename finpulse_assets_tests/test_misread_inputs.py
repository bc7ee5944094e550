"""Nothing misread is stored (issue 22): every input that could be read two ways is read one way or refused,
and every dropped row is counted by reason. Each case checks the run's outcome and the stored tables
(sha256 of every stored file, or the stored rows themselves) before and after."""
# ruff: noqa: F811 (the `project` fixture is imported from test_fault_matrix and named by the tests)

import hashlib
from datetime import date

import pandas as pd
import pytest

from finpulse_assets.sources import kaggle_csv, yahoo_csv
from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource
from finpulse_assets_tests.stored import stored_table
from finpulse_assets_tests.test_fault_matrix import (  # noqa: F401 (project is a fixture)
    FIRST, LAST, Project, bars, project, record, step_error, tweets, write_prices, write_tweets,
)


def table_hash(project: Project, asset: str) -> tuple[int, str]:
    """(rows, sha256 of the rows' values) of a stored table: the content, whatever its files."""
    frame = stored_table(project.storage / "assets", asset)
    values = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return len(frame), hashlib.sha256(values.tobytes()).hexdigest()


def day_first(rows: list[dict]) -> list[dict]:
    return [{**r, "Date": pd.Timestamp(r["Date"]).strftime("%d/%m/%Y")} for r in rows]


def test_day_first_dates_are_detected_and_stored_on_their_own_day(project):
    assert project.run(["raw_prices"]).success
    iso = table_hash(project, "raw_prices")
    write_prices(project.prices_dir, {"AAA": day_first(bars())})
    result = project.run(["raw_prices"])
    assert result.success, step_error(result)
    assert table_hash(project, "raw_prices") == iso  # the same bars on the same days as the ISO file
    record("price dates written day-first (dd/mm/yyyy)", "read right")


def test_an_ambiguous_date_file_is_refused_with_the_choice_to_make(project):
    assert project.run(["raw_prices"]).success
    before = project.stored_tree()
    short = [r for r in bars() if "2024-01-02" <= r["Date"] <= "2024-01-12"]  # every day and month <= 12
    write_prices(project.prices_dir, {"AAA": day_first(short) + [r for r in bars() if r["Date"] < "2024-01-01"]})
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and "AAA.csv" in error and "day-first or month-first" in error
    assert "FINPULSE_PRICE_DATE_ORDER=day-first" in error
    assert project.stored_tree() == before
    record("ambiguous d/m vs m/d price dates", "refused")


def test_the_date_order_setting_reads_an_ambiguous_file_and_a_contradicting_one_is_refused(tmp_path):
    rows = "Date,Open,High,Low,Close,Adj Close,Volume\n02/01/2024,1,2,1,1.5,1.5,10\n05/01/2024,1,2,1,1.5,1.5,10\n"
    (tmp_path / "X.csv").write_text(rows)
    yahoo_csv._CACHE.clear()
    out = YahooCsvPriceSource(directory=str(tmp_path), date_order="day-first").load_prices(
        ["X"], date(2024, 1, 1), date(2024, 1, 31))
    assert list(out["date"]) == ["2024-01-02", "2024-01-05"]
    (tmp_path / "X.csv").write_text(rows + "25/01/2024,1,2,1,1.5,1.5,10\n")
    with pytest.raises(ValueError, match=r"FINPULSE_PRICE_DATE_ORDER=month-first but the file's dates are day-first"):
        YahooCsvPriceSource(directory=str(tmp_path), date_order="month-first").load_prices(
            ["X"], date(2024, 1, 1), date(2024, 1, 31))
    (tmp_path / "X.csv").write_text(rows + "25/01/2024,1,2,1,1.5,1.5,10\n01/25/2024,1,2,1,1.5,1.5,10\n")
    with pytest.raises(ValueError, match=r"mixes day-first \('25/01/2024'\) and month-first \('01/25/2024'\)"):
        YahooCsvPriceSource(directory=str(tmp_path)).load_prices(["X"], date(2024, 1, 1), date(2024, 1, 31))


def test_a_price_file_cut_inside_its_last_number_is_refused(project):
    assert project.run(["raw_prices"]).success
    before, stored = project.stored_tree(), table_hash(project, "raw_prices")
    path = project.prices_dir / "AAA.csv"
    path.write_bytes(path.read_bytes().rstrip(b"\n")[:-3])  # volume 1370 -> 1
    yahoo_csv._CACHE.clear()
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and "AAA.csv: the file ends inside line" in error and "without a final newline" in error
    assert project.stored_tree() == before and table_hash(project, "raw_prices") == stored
    record("price file cut inside its last number (no final newline)", "refused")


def test_two_price_files_for_one_ticker_are_refused_naming_both(project):
    assert project.run(["raw_prices"]).success
    before = project.stored_tree()
    write_prices(project.prices_dir, {"aaa": [{**r, "Close": "1"} for r in bars()]})
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and "two price files map to ticker 'AAA': AAA.csv and aaa.csv" in error
    assert project.stored_tree() == before
    record("two price files mapping to one ticker (AAA.csv, aaa.csv)", "refused")


def test_a_symlinked_price_file_is_read_and_a_dangling_one_is_named(project, tmp_path):
    real = tmp_path / "elsewhere" / "prices-of-aaa.csv"
    real.parent.mkdir()
    (project.prices_dir / "AAA.csv").rename(real)
    (project.prices_dir / "AAA.csv").symlink_to(real)
    yahoo_csv._CACHE.clear()
    assert project.run(["raw_prices"]).success
    stored = table_hash(project, "raw_prices")
    assert stored[0] == len([r for r in bars() if r["Date"] >= str(FIRST)])
    before = project.stored_tree()
    real.unlink()
    yahoo_csv._CACHE.clear()
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and f"is a symbolic link to {real}, which does not exist" in error
    assert project.stored_tree() == before
    record("price file that is a dangling symbolic link", "clean error")


def test_a_missing_date_column_shows_the_header_found(project):
    (project.prices_dir / "AAA.csv").write_text("Date;Open;High;Low;Close;Adj Close;Volume\n2024-01-02;1;2;1;1;1;1\n")
    yahoo_csv._CACHE.clear()
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and "missing required column; column 'Date'" in error
    assert "the header found is 'Date;Open;High;Low;Close;Adj Close;Volume'" in error and "other than ','" in error
    assert not (project.storage / "assets" / "raw_prices").exists()
    record("';'-delimited price file (missing column 'Date', header shown)", "clean error")


def test_an_unclosed_quote_is_reported_at_its_line(project):
    rows = tweets()
    rows[40] = {**rows[40], "body": "multi\nline \"quoted\" body"}
    write_tweets(project.tweets_dir, rows)
    path = project.tweets_dir / "Tweet.csv"
    lines = path.read_bytes().split(b"\n")
    line = next(n for n, text in enumerate(lines, start=1) if text.startswith(rows[50]["tweet_id"].encode()))
    lines[line - 1] = lines[line - 1].replace(b",w,", b',"w,', 1)  # an opening quote that never closes
    path.write_bytes(b"\n".join(lines))
    kaggle_csv._CACHE.clear()
    result = project.run(["raw_tweets"])
    error = step_error(result)
    assert not result.success and f"the quoted field that starts on line {line} never closes" in error
    assert not (project.storage / "assets" / "raw_tweets").exists()
    record("Tweet.csv with an unclosed quote (reported at its line)", "clean error")


def test_nul_bytes_in_a_tweet_are_rejected_and_counted(project):
    rows = tweets()
    write_tweets(project.tweets_dir, rows)
    path = project.tweets_dir / "Tweet.csv"
    lines = path.read_bytes().split(b"\n")
    n = next(n for n, text in enumerate(lines) if text.startswith(rows[7]["tweet_id"].encode() + b","))
    lines[n] = lines[n].replace(b"news", b"ne\x00ws").replace(b"day", b"d\x00ay")
    path.write_bytes(b"\n".join(lines))
    kaggle_csv._CACHE.clear()
    result = project.run(["raw_tweets"])
    assert result.success, step_error(result)
    run = project.run_metadata(result, "raw_tweets")
    assert run["run_rejected_by_reason"] == {"control_character": 1}
    stored = stored_table(project.storage / "assets", "raw_tweets")
    assert len(stored) == len(rows) - 1 - sum(1 for r in rows if pd.Timestamp(int(r["post_date"]), unit="s",
                                                                                 tz="UTC") > pd.Timestamp("2024-01-31 21:00", tz="UTC"))
    assert not stored["text"].str.contains("\x00|\x1a").any() and rows[7]["tweet_id"] not in set(stored["tweet_id"])
    record("NUL byte inside a tweet body", "counted")


def test_a_tweet_dated_in_2099_is_counted_not_lost(project):
    rows = tweets()
    rows.append({**rows[3], "tweet_id": "999", "post_date": str(int(pd.Timestamp("2099-01-05", tz="UTC").timestamp()))})
    write_tweets(project.tweets_dir, rows)
    result = project.run(["raw_tweets"])
    assert result.success, step_error(result)
    run = project.run_metadata(result, "raw_tweets")
    assert run["run_rejected_without_date"] == {"post_date_in_future": 1}
    assert run["run_rejected_by_reason"] == {"post_date_in_future": 1}
    record("tweet post_date in 2099 (after the run)", "counted")


def test_lower_case_ticker_spellings_are_the_same_ticker(project):
    rows = tweets()
    write_tweets(project.tweets_dir, rows)
    assert project.run(["raw_tweets"]).success
    upper = table_hash(project, "raw_tweets")
    write_tweets(project.tweets_dir, [{**r, "ticker": "aaa" if n % 5 == 0 else r["ticker"]} for n, r in enumerate(rows)])
    result = project.run(["raw_tweets"])
    assert result.success, step_error(result)
    assert table_hash(project, "raw_tweets") == upper
    record("ticker spelled in lower case in a fifth of Company_Tweet.csv", "read right")


def test_a_tweet_id_that_went_through_a_float_is_rejected(project):
    rows = tweets()
    rows[9] = {**rows[9], "tweet_id": "5.52e+17"}
    write_tweets(project.tweets_dir, rows)
    result = project.run(["raw_tweets"])
    assert result.success, step_error(result)
    assert project.run_metadata(result, "raw_tweets")["run_rejected_by_reason"] == {"tweet_id_lost_precision": 1}
    record("tweet id in float notation (5.52e+17)", "counted")


def test_a_split_like_move_is_stored_and_flagged_by_a_warning_check(project):
    rows = [{**r, **({k: f"{float(r[k]) / 7:.4f}" for k in ("Open", "High", "Low", "Close", "Adj Close")}
                     if r["Date"] >= "2024-01-17" else {})} for r in bars()]
    write_prices(project.prices_dir, {"AAA": rows})
    result = project.run(["raw_prices"])
    assert result.success, step_error(result)
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "daily_moves_are_plausible")
    assert not check.passed and check.severity.value == "WARN"
    (flag,) = check.metadata["flagged"].value
    assert flag.startswith("AAA 2024-01-17: close") and "7:1 split" in flag
    assert table_hash(project, "raw_prices")[0] == 21
    record("a day's close moves 1/7 (a split or unit change?)", "flagged")


@pytest.mark.parametrize("env, message", [
    ({"FINPULSE_START": "2015-02-30"}, "FINPULSE_START='2015-02-30' is not a date"),
    ({"FINPULSE_START": "2015-06-01", "FINPULSE_END": "2015-01-01"},
     "FINPULSE_END=2015-01-01 is not after FINPULSE_START=2015-06-01"),
])
def test_date_range_errors_name_the_variable(monkeypatch, env, message):
    from finpulse_assets.settings import Settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Settings.from_env()
    record(f"{' '.join(f'{k}={v}' for k, v in env.items())}", "clean error")
