"""The evaluation report: `evaluation.json` and Markdown tables of the test split (pooled with 95 %
bootstrap intervals, the ablations, per ticker) and of the dev-split search."""

from __future__ import annotations

import json
from pathlib import Path

from finpulse_assets.evaluation.scoring import POOLED_ROW

COLUMNS = [("n_samples", "n", "{}"), ("accuracy", "accuracy", "{:.4f}"), ("mcc", "MCC", "{:.4f}"),
           ("n_price", "n price", "{}"), ("mae", "MAE", "{:.4f}"), ("rmse", "RMSE", "{:.4f}"),
           ("mae_ratio_random_walk", "MAE / random walk", "{:.4f}")]


def headline(results: dict) -> dict:
    """The report's top-level "test" entry: the chosen FinPulse model, pooled over tickers."""
    if results["finpulse_variant"] is None:
        return {"model": None, "note": "no FinPulse (FinBERT text) variant was evaluated"}
    row = results["test"][results["finpulse_variant"]][POOLED_ROW]
    return {"model": results["finpulse_variant"],
            **{k: row.get(k) for k in ("accuracy", "mcc", "mae_ratio_random_walk", "n_samples", "accuracy_ci",
                                       "mcc_ci")}}


def _cells(row: dict) -> list[str]:
    return ["–" if row.get(key) is None else fmt.format(row[key]) for key, _, fmt in COLUMNS]


def _ci(row: dict, key: str) -> str:
    return "–" if row.get(key) is None else f"[{row[key][0]:.4f}, {row[key][1]:.4f}]"


def pooled_table(test: dict, finpulse: str) -> str:
    """Markdown: every variant pooled over tickers, with 95 % intervals of accuracy and MCC."""
    lines = ["| model | n | accuracy | 95 % CI | MCC | 95 % CI | MAE | MAE / random walk |",
             "|---|---:|---:|---|---:|---|---:|---:|"]
    for name, scores in test.items():
        row = scores[POOLED_ROW]
        cells = dict(zip([k for k, _, _ in COLUMNS], _cells(row)))
        shown = f"**{name}**" if name == finpulse else name
        lines.append(f"| {shown} | {cells['n_samples']} | {cells['accuracy']} | {_ci(row, 'accuracy_ci')} | "
                     f"{cells['mcc']} | {_ci(row, 'mcc_ci')} | {cells['mae']} | {cells['mae_ratio_random_walk']} |")
    return "\n".join(lines)


def ablation_table(ablations: list[dict]) -> str:
    lines = ["| ablation | with | without | Δ accuracy | 95 % CI | Δ MCC | 95 % CI | resamples with higher MCC |",
             "|---|---|---|---:|---|---:|---|---:|"]
    for a in ablations:
        lines.append(f"| {a['ablation']} | {a['with']} | {a['without']} | {a['accuracy_difference']:+.4f} | "
                     f"{_ci(a, 'accuracy_ci')} | {a['mcc_difference']:+.4f} | {_ci(a, 'mcc_ci')} | "
                     f"{a['share_of_resamples_mcc_a_above_b']:.1%} |")
    return "\n".join(lines)


def test_table(test: dict, finpulse: str = "") -> str:
    """Markdown: pooled rows of every variant first, then each ticker's rows."""
    lines = ["| ticker | model | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    tickers = sorted({t for scores in test.values() for t in scores["by_ticker"]})
    for ticker in [POOLED_ROW, *tickers]:
        for variant, scores in test.items():
            row = scores[POOLED_ROW] if ticker == POOLED_ROW else scores["by_ticker"].get(ticker)
            if row is not None:
                name = f"**{variant}**" if variant == finpulse else variant
                lines.append(f"| {ticker} | {name} | " + " | ".join(_cells(row)) + " |")
    return "\n".join(lines)


def _candidate_text(c: dict) -> str:
    text = f"w{c['window']} {c['layout']} {c['sentiment']}"
    if c.get("embeddings"):
        text += f" emb{c['embeddings']}"
    text += f" h{c.get('hidden_size')} lr{c.get('lr', 0):.1e} do{c.get('dropout', 0):.2f}"
    if c.get("adversarial_epsilon"):
        text += f" adv(ε{c['adversarial_epsilon']:.3f}, β{c['adversarial_beta']:.2f})"
    return text


def dev_table(dev: dict) -> str:
    """Markdown: every completed trial's dev figures, the chosen ones marked."""
    lines = ["| model | candidate | dev MAE / RW | dev acc (clf) | dev MCC (clf) | dev acc (reg sign) | "
             "dev MCC (reg sign) | chosen for |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for variant, entry in dev.items():
        choice = entry["choice"]
        for row in entry["candidates"]:
            c, d = row["candidate"], row["direction"]
            chosen = ["price"] if c == choice["price"] else []
            if c == choice["direction"]["candidate"]:
                chosen.append(f"direction ({choice['direction']['head']})")
            lines.append(f"| {variant} | {_candidate_text(c)} | {row['price']['mae_ratio_random_walk']:.4f} | "
                         f"{d['classification']['accuracy']:.4f} | {d['classification']['mcc']:.4f} | "
                         f"{d['regression']['accuracy']:.4f} | {d['regression']['mcc']:.4f} | {', '.join(chosen)} |")
    return "\n".join(lines)


def search_table(dev: dict) -> str:
    lines = ["| model | trials | complete | pruned | best trial | best dev MCC | most important |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for variant, entry in dev.items():
        s = entry["study"]
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(s.get("importances", {}).items())[:3]) or s.get("reason", "")
        lines.append(f"| {variant} | {s['n_trials']} | {s['complete']} | {s['pruned']} | {s['best_trial']['number']} "
                     f"| {s['best_trial']['dev_mcc']:.4f} | {top} |")
    return "\n".join(lines)


def walk_forward_section(walk: dict | None) -> list[str]:
    """Markdown lines of the walk-forward report (empty when it did not run)."""
    if not walk:
        return []
    s, b = walk["settings"], walk.get("bootstrap", {})
    lines = ["## Walk-forward (rolling origins)", "",
             f"{s['n_folds']} folds: test windows of {s['step_months']} month(s) from {s['first_test']} to "
             f"{s['test_end']}, each fold trained on {s['train_start']}..its dev window ({s['dev_months']} months "
             f"before its test window), hyper-parameters chosen on that dev window ({s['n_trials']} Optuna trials per "
             f"variant, {s['seeds']} seed(s) per head, layouts {', '.join(s['layouts'])}), refitted on train + dev, "
             f"its test window read once. "
             + (f"`{walk['finpulse_variant']}`: each fold's FinBERT variant with the best dev MCC. "
                if walk["finpulse_variant"] else "No FinBERT variant ran, so no selection rule is scored. ")
             + f"95 % intervals: bootstrap over {b.get('n_days', '?')} test days (all tickers of a day "
             f"together), {b.get('n_resamples', '?')} resamples.", "",
             pooled_table(walk["test"], walk["finpulse_variant"] or ""), "",
             "### Ablations, walk-forward (paired)", "", ablation_table(walk.get("ablations", [])), ""]
    widths = walk.get("interval_widths")
    if widths:
        lines += ["### Interval widths under each protocol (95 % CI, upper minus lower)", "",
                  "| model | accuracy, StockNet split | accuracy, walk-forward | MCC, StockNet split | MCC, walk-forward |",
                  "|---|---:|---:|---:|---:|"]
        for name, w in widths["walk_forward"].items():
            fixed = widths["stocknet_split"].get(name)
            cell = (lambda k: f"{fixed[k]:.4f}" if fixed else "–")
            lines.append(f"| {name} | {cell('accuracy')} | {w['accuracy']:.4f} | {cell('mcc')} | {w['mcc']:.4f} |")
        lines.append("")
    lines += ["| fold | test window | samples | chosen FinBERT variant | seconds |", "|---:|---|---:|---|---:|"]
    for f in walk["folds"]:
        lines.append(f"| {f['fold']} | {f['test_start']}..{f['test_end']} | {f['test_samples']} | "
                     f"{f['headline'] or '–'} | {f['seconds']} |")
    return lines + [""]


def markdown(report: dict) -> str:
    h, p = report["test"], report["protocol"]
    b = report.get("bootstrap", {})
    images = [f"![{v} importance]({path})" for v, path in report.get("importance_plots", {}).items()]
    return "\n".join([
        f"# FinPulse evaluation: {report['dataset']} ({len(report['tickers'])} tickers)",
        "",
        f"StockNet protocol: train {p['train_start']}..{p['dev_start']}, dev ..{p['test_start']}, test "
        f"..{p['test_end']} (by target day); up > {p['up_above']:+.2%}, down <= {p['down_at_or_below']:+.2%}, "
        "days between left out of accuracy and MCC (kept for the price metrics). Hyper-parameters and inputs "
        "chosen on dev by an Optuna study per model; models refitted on train + dev; test split read once, after "
        "every choice.",
        "",
        f"**FinPulse ({h['model']}, chosen on dev), pooled test:** accuracy {h['accuracy']:.4f} "
        f"{_ci(h, 'accuracy_ci')}, MCC {h['mcc']:.4f} {_ci(h, 'mcc_ci')}, MAE / random walk "
        f"{h['mae_ratio_random_walk']:.4f}, {h['n_samples']} labelled samples." if h["model"] else
        f"**No FinPulse model in this run:** {h['note']}.",
        "",
        "## Test split, pooled",
        "",
        f"95 % intervals: percentile bootstrap over {b.get('n_days', '?')} test days (all tickers of a day "
        f"together), {b.get('n_resamples', '?')} resamples, seed {b.get('seed', '?')}.",
        "",
        pooled_table(report["variants_test"], h["model"]),
        "",
        "## Ablations (paired: the same resampled test days for both models)",
        "",
        ablation_table(report.get("ablations", [])),
        "",
        *walk_forward_section(report.get("walk_forward")),
        "## Test split per ticker",
        "",
        test_table(report["variants_test"], h["model"]),
        "",
        "## Dev split: the searches",
        "",
        search_table(report["dev"]),
        "",
        *images,
        "",
        dev_table(report["dev"]),
        "",
        f"Runtime: {report['runtime']}",
    ]) + "\n"


def report_paths(report_dir: Path) -> tuple[Path, Path]:
    return report_dir / "evaluation.json", report_dir / "evaluation.md"


def write_report(report: dict, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = report_paths(report_dir)
    json_path.write_text(json.dumps(report, indent=2, default=str))
    md_path.write_text(markdown(report))
    return json_path, md_path
