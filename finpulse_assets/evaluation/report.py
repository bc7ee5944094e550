"""The evaluation report: `evaluation.json` and a Markdown table of the test split, per ticker and pooled."""

from __future__ import annotations

import json
from pathlib import Path

from finpulse_assets.evaluation.candidates import FINPULSE
from finpulse_assets.evaluation.scoring import POOLED_ROW

COLUMNS = [("n_samples", "n", "{}"), ("accuracy", "accuracy", "{:.4f}"), ("mcc", "MCC", "{:.4f}"),
           ("n_price", "n price", "{}"), ("mae", "MAE", "{:.4f}"), ("rmse", "RMSE", "{:.4f}"),
           ("mae_ratio_random_walk", "MAE / random walk", "{:.4f}")]


def headline(results: dict) -> dict:
    """The report's top-level "test" entry: FinPulse's model, pooled over tickers."""
    row = results["test"][FINPULSE][POOLED_ROW]
    return {k: row[k] for k in ("accuracy", "mcc", "mae_ratio_random_walk", "n_samples")}


def _cells(row: dict) -> list[str]:
    return ["–" if row.get(key) is None else fmt.format(row[key]) for key, _, fmt in COLUMNS]


def test_table(test: dict) -> str:
    """Markdown: pooled rows of every variant first, then each ticker's rows."""
    lines = ["| ticker | model | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    tickers = sorted({t for scores in test.values() for t in scores["by_ticker"]})
    for ticker in [POOLED_ROW, *tickers]:
        for variant, scores in test.items():
            row = scores[POOLED_ROW] if ticker == POOLED_ROW else scores["by_ticker"].get(ticker)
            if row is not None:
                name = f"**{variant}**" if variant == FINPULSE else variant
                lines.append(f"| {ticker} | {name} | " + " | ".join(_cells(row)) + " |")
    return "\n".join(lines)


def dev_table(dev: dict) -> str:
    """Markdown: every candidate's dev figures, the chosen ones marked."""
    lines = ["| model | window | layout | sentiment | dev MAE / RW | dev acc (clf) | dev MCC (clf) | "
             "dev acc (reg sign) | dev MCC (reg sign) | chosen for |", "|---|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for variant, entry in dev.items():
        choice = entry["choice"]
        for row in entry["candidates"]:
            c, d = row["candidate"], row["direction"]
            chosen = ["price"] if c == choice["price"] else []
            if c == choice["direction"]["candidate"]:
                chosen.append(f"direction ({choice['direction']['head']})")
            lines.append(f"| {variant} | {c['window']} | {c['layout']} | {c['sentiment']} | "
                         f"{row['price']['mae_ratio_random_walk']:.4f} | {d['classification']['accuracy']:.4f} | "
                         f"{d['classification']['mcc']:.4f} | {d['regression']['accuracy']:.4f} | "
                         f"{d['regression']['mcc']:.4f} | {', '.join(chosen)} |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    h, p = report["test"], report["protocol"]
    return "\n".join([
        f"# FinPulse evaluation: {report['dataset']} ({len(report['tickers'])} tickers)",
        "",
        f"StockNet protocol: train {p['train_start']}..{p['dev_start']}, dev ..{p['test_start']}, test "
        f"..{p['test_end']} (by target day); up > {p['up_above']:+.2%}, down <= {p['down_at_or_below']:+.2%}, "
        "days between left out of accuracy and MCC (kept for the price metrics). Test split read once, after the "
        "dev choices; models refitted on train + dev.",
        "",
        f"**{FINPULSE}, pooled test:** accuracy {h['accuracy']:.4f}, MCC {h['mcc']:.4f}, MAE / random walk "
        f"{h['mae_ratio_random_walk']:.4f}, {h['n_samples']} labelled samples.",
        "",
        "## Test split",
        "",
        test_table(report["variants_test"]),
        "",
        "## Dev split (model choices)",
        "",
        dev_table(report["dev"]),
        "",
        f"Runtime: {report['runtime']}",
    ]) + "\n"


def write_report(report: dict, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = report_dir / "evaluation.json", report_dir / "evaluation.md"
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(markdown(report))
    return json_path, md_path
