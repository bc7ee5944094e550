"""A run's tables change together or not at all (issue 22), as far as built: every input of the run is read
before any table is written, so an input defect of one source leaves every table as it was."""

from dagster import AssetKey

from finpulse_assets.partitions import ticker_partitions
from finpulse_assets_tests.test_fault_matrix import (  # noqa: F401 (project is a fixture)
    bars, project, record, step_error, tweets, write_prices, write_tweets,
)
from finpulse_assets_tests.test_misread_inputs import table_hash

DATA_ASSETS = ["raw_tweets", "vader_labels", "raw_prices", "price_features"]


def test_a_ticker_with_tweets_but_no_price_file_changes_no_table(project):
    assert project.run(DATA_ASSETS).success
    project.instance.add_dynamic_partitions(ticker_partitions.name, ["CCC"])
    write_tweets(project.tweets_dir, tweets(("AAA", "CCC")))
    before = project.stored_tree()
    hashes = {a: table_hash(project, a) for a in DATA_ASSETS}
    result = project.run(DATA_ASSETS, ticker="CCC")
    error = step_error(result)
    assert not result.success and "no price file for ticker 'CCC'" in error and "nothing of the run was written" in error
    assert project.stored_tree() == before and {a: table_hash(project, a) for a in DATA_ASSETS} == hashes
    for asset in DATA_ASSETS:
        assert not [k for k in project.instance.get_materialized_partitions(AssetKey(asset)) if "CCC" in k]
    record("ticker with tweets but no price file (whole data run)", "refused")


def test_a_bad_price_file_leaves_the_tweets_of_the_run_unchanged(project):
    assert project.run(DATA_ASSETS).success
    hashes = {a: table_hash(project, a) for a in DATA_ASSETS}
    before = project.stored_tree()
    rows = tweets()
    write_tweets(project.tweets_dir, rows + [{**r, "tweet_id": r["tweet_id"] + "9"} for r in rows[:6]])  # tweets grow
    (project.prices_dir / "AAA.csv").write_text("Date;Open;High;Low;Close;Adj Close;Volume\n2024-01-02;1;2;1;1;1;1\n")
    from finpulse_assets.sources import yahoo_csv
    yahoo_csv._CACHE.clear()
    result = project.run(DATA_ASSETS)
    error = step_error(result)
    assert not result.success and "missing required column; column 'Date'" in error
    assert project.stored_tree() == before and {a: table_hash(project, a) for a in DATA_ASSETS} == hashes
    record("';'-delimited price file while Tweet.csv grew (raw_tweets unchanged)", "refused")
