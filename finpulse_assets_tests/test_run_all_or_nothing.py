"""A materialization's tables change together or not at all (issue 22), as far as built: every input is read
before any run starts, so an input defect of one source or one ticker leaves every table as it was."""
# ruff: noqa: F811 (the `project` fixture is imported from test_fault_matrix and named by the tests)

from dagster import AssetKey

from finpulse_assets.runs.cli import materialize as materialize_stages
from finpulse_assets.partitions import ticker_partitions
from finpulse_assets.settings import Settings
from finpulse_assets.sources import yahoo_csv
from finpulse_assets_tests.test_fault_matrix import (  # noqa: F401 (project is a fixture)
    project, record, tweets, write_tweets,
)
from finpulse_assets_tests.test_misread_inputs import table_hash

DATA_ASSETS = ["raw_tweets", "vader_labels", "raw_prices", "price_features"]


def data_stage(project, tickers):
    settings = Settings(tickers=tickers, start=project.settings.start, end=project.settings.end,
                        storage_dir=project.settings.storage_dir)
    return materialize_stages(settings, project.instance, jobs=["data_assets_job"], resources=project.resources)


def test_a_ticker_with_tweets_but_no_price_file_changes_no_table(project):
    write_tweets(project.tweets_dir, tweets(("AAA", "BBB", "CCC")))
    assert data_stage(project, ("AAA", "BBB"))["failure"] is None
    project.instance.add_dynamic_partitions(ticker_partitions.name, ["CCC"])
    before = project.stored_tree()
    hashes = {a: table_hash(project, a) for a in DATA_ASSETS}
    summary = data_stage(project, ("AAA", "BBB", "CCC"))
    failure = summary["failure"]
    assert "no price file for ticker 'CCC'" in failure and "no run was started and no table changed" in failure
    assert project.stored_tree() == before and {a: table_hash(project, a) for a in DATA_ASSETS} == hashes
    for asset in DATA_ASSETS:
        assert not [k for k in project.instance.get_materialized_partitions(AssetKey(asset)) if "CCC" in k]
    record("ticker with tweets but no price file (whole data stage)", "refused")


def test_a_bad_price_file_leaves_the_tweets_of_every_ticker_unchanged(project):
    write_tweets(project.tweets_dir, tweets(("AAA", "BBB")))
    assert data_stage(project, ("AAA", "BBB"))["failure"] is None
    hashes = {a: table_hash(project, a) for a in DATA_ASSETS}
    before = project.stored_tree()
    rows = tweets(("AAA", "BBB"))
    write_tweets(project.tweets_dir, rows + [{**r, "tweet_id": r["tweet_id"] + "9"} for r in rows[:6]])  # tweets grow
    (project.prices_dir / "BBB.csv").write_text("Date;Open;High;Low;Close;Adj Close;Volume\n2024-01-02;1;2;1;1;1;1\n")
    yahoo_csv._CACHE.clear()
    failure = data_stage(project, ("AAA", "BBB"))["failure"]
    assert "BBB.csv: missing required column; column 'Date'" in failure
    assert project.stored_tree() == before and {a: table_hash(project, a) for a in DATA_ASSETS} == hashes
    record("';'-delimited price file of one ticker while Tweet.csv grew (no ticker's tables change)", "refused")
