"""``shotseek eval --report report.html``: an evaluation as a page to read and pass around. The
R@K curves of every run (model × mode × rerank) drawn as inline SVG, the figures in a table
under them, and the log lines some run misses, with each run's rank. No script, no stylesheet
from elsewhere: it reads the same in a browser, a mail client or an archive years later. Every
text from the log (queries, file names) is escaped."""

from __future__ import annotations

import math
from html import escape

from shotseek.pipeline.evaluation import EvalReport, EvalRun

#: Colours of the runs' curves, distinguishable for the common colour-vision deficiencies
#: (Okabe & Ito's palette).
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000")
WIDTH, HEIGHT, MARGIN = 640, 320, 56

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 960px; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #8886; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child, td.query { text-align: left; }
td.miss { color: #c62828; font-weight: bold; }
.note { color: #666; }
"""


def eval_report_html(report: EvalReport) -> str:
    """The report as one HTML document."""
    runs = [run for run in report.runs if run.queries]
    title = f"shotseek eval: {report.log}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">{len(runs)} runs; a hit counts when it overlaps the logged span'
        f"{f' widened by {report.tolerance:g} s' if report.tolerance else ''}. "
        f"{report.skipped} log lines skipped.</p>",
    ]
    if runs:
        parts += [_plot(runs), _table(runs), _misses(runs)]
    else:
        parts.append("<p>No query could be evaluated: see the problems below.</p>")
    if report.unknown_videos:
        videos = ", ".join(escape(v) for v in report.unknown_videos)
        parts.append(f"<p>Videos the log names that are not indexed: {videos}</p>")
    if report.problems:
        items = "".join(f"<li>line {p.line}: {escape(p.reason)}</li>" for p in report.problems)
        parts.append(f"<h2>Problems in the log</h2><ul>{items}</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _plot(runs: list[EvalRun]) -> str:
    """R@K against K (log scale), one curve per run, with a legend."""
    ks = sorted({k for run in runs for k in run.recall})
    low, high = math.log(ks[0]), math.log(ks[-1]) if ks[-1] > ks[0] else math.log(ks[0]) + 1
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def x(k: int) -> float:
        return MARGIN + (math.log(k) - low) / (high - low) * inner_w

    def y(recall: float) -> float:
        return MARGIN + (1 - recall) * inner_h

    legend_h = 18 * len(runs)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + legend_h}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + legend_h}" role="img" '
        'aria-label="Recall at K of each run">',
        "<title>Recall at K of each run</title>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        svg.append(
            f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#8884"/>'
            f'<text x="{MARGIN - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'font-size="11">{tick:.2f}</text>'
        )
    for k in ks:
        svg.append(
            f'<text x="{x(k):.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle" '
            f'font-size="11">{k}</text>'
        )
    svg.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">'
        "K (hits looked at)</text>"
        f'<text x="12" y="{HEIGHT / 2}" font-size="12" transform="rotate(-90 12 {HEIGHT / 2})" '
        'text-anchor="middle">R@K</text>'
    )
    for i, run in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{x(k):.1f},{y(run.recall[k]):.1f}" for k in sorted(run.recall))
        svg.append(
            f'<polyline class="run" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{points}"><title>{escape(run.name)}</title></polyline>'
        )
        for k in sorted(run.recall):
            svg.append(
                f'<circle cx="{x(k):.1f}" cy="{y(run.recall[k]):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(run.name)}: R@{k} {run.recall[k]:.2f}</title></circle>"
            )
        top = HEIGHT + 8 + 18 * i
        svg.append(
            f'<rect x="{MARGIN}" y="{top - 9}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{MARGIN + 18}" y="{top + 1}" font-size="12">{escape(run.name)}</text>'
        )
    svg.append("</svg>")
    return "\n".join(svg)


def _table(runs: list[EvalRun]) -> str:
    ks = sorted({k for run in runs for k in run.recall})
    head = "".join(f"<th>R@{k}</th>" for k in ks)
    rows = []
    for run in runs:
        cells = "".join(
            f"<td>{run.recall[k]:.2f}</td>" if k in run.recall else "<td></td>" for k in ks
        )
        median = "" if run.median_rank is None else f"{run.median_rank:g}"
        rows.append(
            f"<tr><td>{escape(run.name)}</td><td>{run.queries}</td>{cells}"
            f"<td>{run.mrr:.3f}</td><td>{median}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>run</th><th>queries</th>{head}<th>MRR</th>"
        f"<th>median rank</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _misses(runs: list[EvalRun]) -> str:
    """The log lines some run does not answer, with each run's rank (— for a miss)."""
    by_line = [{o.line: o for o in run.outcomes} for run in runs]
    lines = sorted({o.line for run in runs for o in run.outcomes if o.rank is None})
    if not lines:
        return "<h2>Missed queries</h2><p>Every run answers every query.</p>"
    head = "".join(f"<th>{escape(run.name)}</th>" for run in runs)
    rows = []
    for line in lines:
        known = next(outcomes[line] for outcomes in by_line if line in outcomes)
        cells = []
        for outcomes in by_line:
            outcome = outcomes.get(line)
            if outcome is None or outcome.rank is None:
                cells.append('<td class="miss">—</td>')
            else:
                cells.append(f"<td>{outcome.rank}</td>")
        rows.append(
            f'<tr><td>{line}</td><td class="query">{escape(known.query)}</td>'
            f"<td>{escape(known.video)} {escape(known.start_tc)}–{escape(known.end_tc)}</td>"
            f"{''.join(cells)}</tr>"
        )
    return (
        "<h2>Missed queries</h2><p>Log lines at least one run does not find in its first "
        "hits, with the rank each run gives them.</p>"
        f"<table><thead><tr><th>line</th><th>query</th><th>logged</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
