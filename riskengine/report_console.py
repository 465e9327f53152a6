"""What the commands print: short rich tables a person reads at the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
if not console.is_terminal:  # logs and CI: wide enough that candidate names are not cut
    console = Console(width=140)


def print_data_summary(summary: dict, rejects_path: str | None = None) -> None:
    """What the data holds and what was set aside."""
    t = Table(title="Data", show_header=True, header_style="bold")
    t.add_column("table")
    t.add_column("rows", justify="right")
    t.add_column("awaiting linkage", justify="right")
    t.add_row("entities", f"{summary['entities']:,}", "")
    for source, n in summary.get("events", {}).items():
        waiting = summary.get("awaiting_linkage", {}).get(source, 0)
        t.add_row(f"events: {source}", f"{n:,}", f"{waiting:,}" if waiting else "")
    pos = summary.get("positive_outcomes")
    t.add_row("outcomes", f"{summary['outcomes']:,}" + (f" ({pos:,} positive)" if pos is not None else ""), "")
    console.print(t)
    if summary.get("outcomes_skipped"):  # rows the source's outcome_values call no outcome: not rejects
        from riskengine.ingest import skipped_line

        console.print(escape(skipped_line(summary["outcomes_skipped"])) + " [dim](no outcome: left out, not rejects)[/]")
    rejected = summary.get("rejected", {})
    if rejected:
        r = Table(title="Rejected rows (kept with their reason)", header_style="bold")
        r.add_column("file")
        r.add_column("rows", justify="right")
        for f, n in rejected.items():
            r.add_row(f, f"{n:,}")
        console.print(r)
    else:
        console.print("No rows rejected.")
    if rejects_path:
        console.print(f"Rejects file: [bold]{rejects_path}[/]")
    if summary.get("event_dates"):
        console.print(f"Events dated {summary['event_dates'][0]} to {summary['event_dates'][1]}.")


def print_training_summary(summary: dict) -> None:
    """Candidates and baselines side by side, the champion marked, the oracle if any."""
    k = summary["k"]
    t = Table(title=f"{summary['pipeline']}: mean over {len(summary['splits'])} temporal splits", header_style="bold")
    for col in ("candidate", f"precision@{k}", "lowest..highest split", "ties: worst..best", f"recall@{k}", "ROC-AUC",
                "mean regret"):
        t.add_column(col, justify="left" if col == "candidate" else "right")
    rows = [(n, m, False) for n, m in summary["candidates"].items()] + [(n, m, True) for n, m in summary["baselines"].items()]
    for name, m, is_base in rows:
        label = ("* " if name == summary["champion"] else "  ") + name + (" (baseline)" if is_base else "")
        t.add_row(escape(label), _f(m["precision_at_k"]),
                  f"{_f(m.get('precision_at_k_lowest_split'))}..{_f(m.get('precision_at_k_highest_split'))}",
                  f"{_f(m['precision_at_k_worst'])}..{_f(m['precision_at_k_best'])}",
                  _f(m["recall_at_k"]), _f(m["roc_auc"]), _f(m.get("regret_mean")))
    console.print(t)
    console.print(f"Champion: [bold]{summary['champion']}[/] ({summary['selection_rule']}).")
    for text in summary.get("warnings", []):
        print_warning(text)
    link = summary.get("link") or {}
    if link.get("review_page"):
        console.print(f"Clerical review: {link['review_records']:,} record(s) wait for a clerk in "
                      f"{escape(link['review_page'])} " + escape("(clear values, for the council's own staff; name the "
                      "filled review.csv in [link] review_decisions: both are deleted once it is read)"))
    o = summary.get("oracle")
    if o and "cases" in o:  # the case framing: the last split's cases against their true probabilities
        console.print(
            f"Against the synthetic truth over the {o['cases']:,} cases from {o['test_from']} to {o['test_to']}: "
            f"the champion's top {o['k']} are positive with probability {o['expected_true_precision_at_k']:.1%} "
            f"(realised {o['true_precision_at_k']:.1%}); ordering by the true probability gives "
            f"{o['bayes_precision_at_k']:.1%} ({o['share_of_bayes']:.0%} of the Bayes-optimal ordering)."
        )
    elif o:
        console.print(
            f"Against the synthetic truth on {o['as_of']} over the {o['entities']:,} entities the list may hold: the champion's top {k} "
            f"hold {o['true_precision_at_k']:.1%} unlicensed HMOs (expected {o['expected_true_precision_at_k']:.1%}); "
            f"the best possible ranking {o['bayes_precision_at_k']:.1%} ({o['share_of_bayes']:.0%} of the ceiling)."
        )
    if summary.get("run_id"):
        console.print(f"MLflow run {summary['run_id']}; model {summary['model_uri']} (version {summary.get('model_version')}).")


def _f(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def synth_files_table(summary, title: str) -> Table:
    """A synthetic data set's files: rows, and the bad rows planted in each (count and share)."""
    table = Table(title=title, title_justify="left")
    table.add_column("file")
    table.add_column("rows", justify="right")
    table.add_column("planted bad rows", justify="right")
    for rel, rows in summary.rows.items():
        bad = summary.bad_rows.get(rel)
        table.add_row(rel, f"{rows:,}", f"{bad:,} ({bad / rows:.1%})" if bad is not None and rows else "")
    return table


def print_synth_summary(summary) -> None:
    """What a synthetic borough holds (a SynthSummary): files, rows, planted bad rows, prevalence."""
    console.print(synth_files_table(summary, f"Synthetic borough in {summary.out_dir}"))
    prev = summary.prevalence
    console.print(
        f"Private-rented homes: {prev['private_rented_share']:.1%}. Unlicensed HMOs among them: "
        f"{prev['unlicensed_hmo_among_private_rented_at_start']:.1%} at the start, "
        f"{prev['unlicensed_hmo_among_private_rented_at_end']:.1%} at the end."
    )
    console.print(
        f"Past inspections: {summary.inspections:,}, of which {summary.inspection_hit_rate:.1%} "
        "found an unlicensed HMO (business as usual)."
    )
    console.print(f"Manifest: {summary.out_dir / 'manifest.json'}; hidden truth under {summary.out_dir / 'truth'}.")


def print_warning(text: str) -> None:
    """A warning a person must not miss (on stderr, so it survives a redirected report)."""
    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {escape(text)}", highlight=False)
