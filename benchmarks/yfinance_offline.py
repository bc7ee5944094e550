"""How long the yfinance source takes to report a network failure, and what it says.

    python benchmarks/yfinance_offline.py                      # no network: DNS fails
    HTTPS_PROXY=http://127.0.0.1:<port of a socket that never answers> python benchmarks/yfinance_offline.py
"""

import time
from datetime import date

from finpulse_assets.sources.yfinance_source import YFinancePriceSource

started = time.perf_counter()
try:
    YFinancePriceSource(tickers=["AAPL", "MSFT"]).load_prices(["AAPL", "MSFT"], date(2024, 1, 2), date(2024, 1, 31))
    print("downloaded")
except Exception as exc:  # the point is to print whatever it raised
    print(type(exc).__name__, str(exc)[:400])
print(f"{time.perf_counter() - started:.2f} s")
