"""report.html: one self-contained page for TAs (inline CSS, figures as data URIs, no script).

Every string that a student can influence (names, emails, ids, grader messages that quote their
code or outputs) goes through ``html.escape`` before it reaches the page, and links to feedback
files are percent-encoded relative paths, so no student text can become markup or a URL scheme.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from autograder.classreport import figures
from autograder.classreport.analysis import CheckStats, ClassAnalysis, FailureGroup
from autograder.classreport.execution import execution_rows, loss_stats
from autograder.classreport.gradebook import format_number
from autograder.classreport.records import SubmissionRecord
from autograder.classreport.similarity import IdenticalGroup

TOP_FAILURES = 15
"""Rows in the "most common failures" table."""
MESSAGE_CHARS = 240
"""Longer messages are cut in tables (the full text is in the cell's tooltip)."""
_STYLE = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--accent:#3b6ea5;--bad:#b5485d}
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1f2933;color:#fff;padding:18px 0 12px}
header .wrap,main{max-width:1120px;margin:0 auto;padding:0 24px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:0 0 10px;color:#cbd2d9;font-size:13px}
nav a{color:#9fb3c8;margin-right:16px;font-size:13px;text-decoration:none}
nav a:hover{color:#fff}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;
  margin:18px 0}
h2{font-size:17px;margin:0 0 8px}
h3{font-size:14px;margin:16px 0 6px;color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.card{flex:1 1 130px;background:#fff;border:1px solid var(--line);border-radius:8px;
  padding:10px 14px}
.card .value{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.card .label{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f0f2f5;font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
.nowrap{white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.id{white-space:nowrap;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  font-size:12px}
.msg{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
  white-space:pre-wrap;word-break:break-word;color:#333}
.rate{display:inline-block;width:64px;height:8px;background:#e9edf2;border-radius:2px;
  margin-right:6px;vertical-align:middle;overflow:hidden}
.rate span{display:block;height:100%;background:var(--accent)}
.low{color:var(--bad);font-weight:600}
.muted,.note{color:var(--muted)}
.note{font-size:13px;margin:4px 0 8px}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;white-space:nowrap}
.badge.graded{background:#e3f1e7;color:#2d6a3e}
.badge.other{background:#fbe6cf;color:#8a4b00}
img{display:block;max-width:100%;height:auto;margin:8px auto}
a{color:var(--accent)}
footer{color:var(--muted);font-size:12px;text-align:center;margin:24px 0}
"""


def render_report(
    analysis: ClassAnalysis,
    groups: Sequence[IdenticalGroup],
    *,
    title: str,
    question_titles: Mapping[str, str] | None = None,
) -> str:
    """The whole page."""
    titles = dict(question_titles or {})
    sections = [
        _summary(analysis, groups),
        _distribution(analysis),
        _questions(analysis, titles),
        _checks(analysis),
        _failures(analysis),
        _not_graded(analysis),
        _identical(analysis, groups),
        _execution(analysis),
        _students(analysis),
    ]
    executed = [("execution", "Execution")] if execution_rows(analysis.records) else []
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in [
            *executed,
            ("distribution", "Scores"),
            ("questions", "Questions"),
            ("checks", "Checks"),
            ("failures", "Failures"),
            ("not-graded", "Not graded"),
            ("identical", "Identical code"),
            ("students", "Students"),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<header><div class="wrap"><h1>{_e(title)}</h1>'
        f"<p>Class report: {len(analysis.records)} students, {len(analysis.checks)} checks, "
        f"{format_number(analysis.max_total)} points.</p><nav>{nav}</nav></div></header>\n"
        f"<main>\n{''.join(sections)}\n"
        "<footer>Generated by nmt-autograder. Statistics are over graded submissions; "
        "links open each student's feedback.md next to this page.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


def _summary(analysis: ClassAnalysis, groups: Sequence[IdenticalGroup]) -> str:
    mean, median = analysis.mean_total(), analysis.median_total()
    cards = [
        ("students", "students", str(len(analysis.records))),
        ("graded", "graded", str(len(analysis.graded))),
        ("not-graded", "not graded", str(len(analysis.not_graded))),
        ("mean", "mean total", _points(mean)),
        ("median", "median total", _points(median)),
        ("max", "points possible", format_number(analysis.max_total)),
        ("identical-groups", "identical-code groups", str(len(groups))),
    ]
    return (
        '<div class="cards" id="summary">'
        + "".join(
            f'<div class="card" data-stat="{key}"><div class="value">{_e(value)}</div>'
            f'<div class="label">{label}</div></div>'
            for key, label, value in cards
        )
        + "</div>\n"
    )


def _distribution(analysis: ClassAnalysis) -> str:
    image = _image(figures.score_histogram(analysis), "Histogram of total scores")
    return _section("distribution", "Score distribution", image)


def _questions(analysis: ClassAnalysis, titles: Mapping[str, str]) -> str:
    rows = [
        [
            _cell(q.question, "id"),
            _cell(titles.get(q.question, "")),
            _cell(format_number(q.max_score), "num"),
            _rate_cell(q.full_marks_rate, q.n),
            _cell(_points(q.mean_score), "num"),
        ]
        for q in analysis.questions
    ]
    table = _table(["Question", "Title", "Max", "Full marks", "Mean points"], rows, "questions")
    image = _image(figures.question_rates(analysis.questions), "Pass rate per question")
    return _section("questions", "Questions", image + table)


def _checks(analysis: ClassAnalysis) -> str:
    legend = (
        '<p class="note">Pass rate is the share of graded submissions that passed. '
        "Discrimination is the point-biserial correlation between passing the check and the "
        "rest of the total score: near 1, the check is passed by the strong submissions; "
        '<span class="low">under 0.2 or negative</span>, look at the check or its reference. '
        "It is blank when everyone or no one passed.</p>"
    )
    rows = []
    for check in analysis.checks:
        top = check.failures[0] if check.failures else None
        rows.append(
            [
                _cell(check.check_id, "id"),
                _cell(check.title),
                _cell(format_number(check.max_score), "num"),
                _rate_cell(check.pass_rate, check.n, check.n_passed, stat="pass-rate"),
                _discrimination_cell(check),
                _message_cell(top.message, f"{top.count}\u00d7 ") if top else _cell(""),
            ]
        )
    header = ["Check", "Title", "Max", "Pass rate", "Discrimination", "Most frequent failure"]
    table = _table(header, rows, "checks-table", [c.check_id for c in analysis.checks])
    bars = _image(figures.check_pass_rates(analysis.checks), "Pass rate per check")
    scatter = _image(
        figures.difficulty_discrimination(analysis.checks), "Pass rate against discrimination"
    )
    body = (
        legend
        + table
        + "<h3>Pass rate per check</h3>"
        + bars
        + "<h3>Difficulty against discrimination</h3>"
        + scatter
    )
    return _section("checks", "Checks (item analysis)", body)


def _failures(analysis: ClassAnalysis) -> str:
    ranked: list[tuple[CheckStats, FailureGroup]] = sorted(
        ((c, f) for c in analysis.checks for f in c.failures),
        key=lambda cf: (-cf[1].count, cf[0].check_id),
    )[:TOP_FAILURES]
    if not ranked:
        return _section("failures", "Most common failures", '<p class="note">No failures.</p>')
    by_id = {r.student_id: r for r in analysis.records}
    rows = [
        [
            _cell(str(failure.count), "num"),
            _cell(check.check_id, "id"),
            _message_cell(failure.message),
            _cell_html(_student_link(by_id[failure.example_student])),
        ]
        for check, failure in ranked
    ]
    note = (
        '<p class="note">Messages are grouped with every number replaced by #; '
        "the example links to one such student's feedback.</p>"
    )
    table = _table(["Count", "Check", "Message", "Example"], rows, "failures-table")
    return _section("failures", "Most common failures", note + table)


def _not_graded(analysis: ClassAnalysis) -> str:
    records = analysis.not_graded
    if not records:
        return _section(
            "not-graded", "Not graded", '<p class="note">Every submission was graded.</p>'
        )
    rows = [
        [
            _student_cell(r),
            _cell_html(f'<span class="badge other">{_e(r.status)}</span>'),
            _message_cell(r.message),
            _feedback_cell(r),
        ]
        for r in records
    ]
    note = '<p class="note">Timed out, crashed or unreadable: these need a look or a regrade.</p>'
    table = _table(["Student", "Status", "Grader message", "Feedback"], rows, "not-graded-table")
    return _section("not-graded", f"Not graded ({len(records)})", note + table)


def _identical(analysis: ClassAnalysis, groups: Sequence[IdenticalGroup]) -> str:
    if not any(r.fingerprint for r in analysis.records):
        body = '<p class="note">No fingerprints were computed for this batch.</p>'
        return _section("identical", "Identical code", body)
    note = (
        '<p class="note">Students whose graded definitions are identical up to variable names, '
        "comments and formatting (the template's code is ignored). Short functions have few "
        "ways to be written: a match is a reason to look, not a verdict.</p>"
    )
    if not groups:
        return _section("identical", "Identical code", note + "<p>No groups.</p>")
    rows = [
        [
            _cell(str(i)),
            _cell(group.fingerprint[:12], "id"),
            _cell(str(len(group.records)), "num"),
            _cell_html("<br>".join(_student_link(r) for r in group.records)),
            _cell_html("<br>".join(_e(_points(r.total)) for r in group.records), "num"),
        ]
        for i, group in enumerate(groups, start=1)
    ]
    table = _table(["Group", "Fingerprint", "Size", "Students", "Totals"], rows, "identical-table")
    count = f"{len(groups)} group" + ("" if len(groups) == 1 else "s")
    return _section("identical", f"Identical code ({count})", note + table)


def _execution(analysis: ClassAnalysis) -> str:
    """The notebooks run with ``--execute`` (no points): how each run ended, and the class's
    printed losses against the reference's range; nothing when no notebook was run."""
    rows = execution_rows(analysis.records)
    if not rows:
        return ""
    completed = sum(r.completed for r in rows)
    note = (
        f'<p class="note">{completed} of {len(rows)} notebooks ran to the end in the sandbox. '
        "Losses are what each notebook printed (its own code: no points); a loss outside the "
        "reference's calibrated range is worth a look.</p>"
    )
    students = [
        [
            _cell_html(_student_link(r.record)),
            _cell(r.end),
            _message_cell(r.detail),
            _cell(r.figures, "num"),
            _cell(str(r.outside), "num"),
            _cell(f"{r.seconds:.0f} s", "num"),
        ]
        for r in rows
    ]
    header = ["Student", "Run", "Where, why", "Figures", "Losses outside", "Time"]
    table = _table(header, students, "execution-table", [r.record.student_id for r in rows])
    losses = [
        [
            _cell(s.experiment, "id"),
            _cell(str(s.n), "num"),
            _cell(f"{s.median:.4f}", "num"),
            _cell(f"{s.lowest:.4f}-{s.highest:.4f}", "num"),
            _cell(s.reference or "not calibrated", "num"),
            _cell(str(s.outside), "num"),
        ]
        for s in loss_stats(analysis.records)
    ]
    header = ["Run", "Count", "Median", "Class range", "Reference", "Outside"]
    body = note + table + "<h3>Printed losses</h3>" + _table(header, losses, "execution-losses")
    return _section("execution", f"Notebook execution ({len(rows)})", body)


def _students(analysis: ClassAnalysis) -> str:
    questions = [q.question for q in analysis.questions]
    rows = []
    for record in analysis.records:
        points = {q: 0.0 for q in questions}
        for check in record.checks:
            points[check.question] = points.get(check.question, 0.0) + check.score
        badge = "graded" if record.graded else "other"
        rows.append(
            [
                _student_cell(record),
                _cell(record.email or "", "muted"),
                *(_cell(format_number(points[q]), "num") for q in questions),
                _cell(format_number(record.total), "num"),
                _cell_html(f'<span class="badge {badge}">{_e(record.status)}</span>'),
                _feedback_cell(record),
            ]
        )
    header = ["Student", "Email", *questions, "Total", "Status", "Feedback"]
    table = _table(header, rows, "students-table", [r.student_id for r in analysis.records])
    return _section("students", f"Students ({len(analysis.records)})", table)


# --- small builders: every cell is escaped unless built here from escaped parts -----------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(heading)}</h2>{body}</section>\n'


def _image(png: bytes, alt: str) -> str:
    return f'<img src="{figures.png_data_uri(png)}" alt="{_e(alt)}">'


def _cell(text: str, css: str = "") -> str:
    return _cell_html(_e(text), css)


def _cell_html(markup: str, css: str = "") -> str:
    return f'<td class="{css}">{markup}</td>' if css else f"<td>{markup}</td>"


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], table_id: str, keys: Sequence[str] = ()
) -> str:
    numeric = {"Max", "Count", "Mean points", "Total", "Size", "Totals", "Discrimination"}
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if h in numeric else f"<th>{_e(h)}</th>" for h in header
    )
    body = []
    for i, row in enumerate(rows):
        key = f' data-key="{_e(keys[i])}"' if i < len(keys) else ""
        body.append(f"<tr{key}>{''.join(row)}</tr>")
    rows_html = "".join(body)
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'
    )


def _rate_cell(rate: float | None, n: int, passed: int | None = None, *, stat: str = "") -> str:
    if rate is None:
        return _cell("", "num")
    width = f"{100 * rate:.0f}"
    count = f" ({passed}/{n})" if passed is not None else ""
    data = f' data-stat="{stat}" data-value="{format_number(rate)}"' if stat else ""
    return (
        f'<td class="nowrap"{data}><span class="rate"><span style="width:{width}%"></span></span>'
        f'{100 * rate:.0f}%<span class="muted">{count}</span></td>'
    )


def _discrimination_cell(check: CheckStats) -> str:
    r = check.discrimination
    if r is None:
        return _cell("", "num")
    css = "num low" if r < figures.LOW_DISCRIMINATION else "num"
    return _cell(f"{r:+.2f}", css)


def _message_cell(message: str, prefix: str = "") -> str:
    short = message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "\u2026"
    return f'<td class="msg" title="{_e(message)}">{_e(prefix)}{_e(short)}</td>'


def _display_name(record: SubmissionRecord) -> str:
    return f"{record.name} ({record.student_id})" if record.name else record.student_id


def _student_cell(record: SubmissionRecord) -> str:
    return _cell(_display_name(record))


def _student_link(record: SubmissionRecord) -> str:
    if record.feedback_path is None:
        return _e(_display_name(record))
    return f'<a href="{_href(record.feedback_path)}">{_e(_display_name(record))}</a>'


def _feedback_cell(record: SubmissionRecord) -> str:
    if record.feedback_path is None:
        return _cell("none", "muted")
    return _cell_html(f'<a href="{_href(record.feedback_path)}">feedback.md</a>')


def _href(path: str) -> str:
    """A relative URL: percent-encoded (``:`` too, so no scheme such as ``javascript:``)."""
    return _e(quote(path.replace("\\", "/"), safe="/"))


def _points(value: float | None) -> str:
    return "\u2013" if value is None else format_number(value, digits=2)
