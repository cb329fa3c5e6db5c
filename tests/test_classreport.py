"""The class report: CSVs, item statistics, failure grouping, fingerprints and a safe page.

The synthetic class: 30 graded students ``s00``..``s29`` whose rank is their number (``s29`` the
strongest) plus three that could not be graded. Each check is passed by a known set of ranks.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from autograder.classreport import (
    CheckRecord,
    SubmissionRecord,
    analyse_class,
    fingerprint_definitions,
    group_identical,
    normalise_message,
    record_from_results,
    write_class_report,
)
from autograder.classreport.gradebook import format_number

HOSTILE_NAME = "<img src=x onerror=\"document.title='pwned'\">"
HOSTILE_MESSAGE = "your output: <script>document.title='pwned'</script>"
MISMATCH = "mismatch in context (largest difference from the reference {d}; tolerance 1e-08)"
# check id -> (question, title, points, which ranks pass)
CHECKS = {
    "2.2.1/context-3d": ("2.2.1", "Context for 3D queries", 2.0, lambda r: r >= 6),
    "2.2.1/weights": ("2.2.1", "Attention weights", 1.0, lambda r: r >= 10),
    "2.2.2/context": ("2.2.2", "Causal context", 1.5, lambda r: r >= 15),
    "2.3.1/logits": ("2.3.1", "Decoder logits", 3.0, lambda r: r >= 24),
    "2.3.2/prompt": ("2.3.2", "Prompt tokens", 1.0, lambda r: r >= 3),
    "2.3.2/greedy": ("2.3.2", "Greedy decoding", 0.5, lambda r: r % 5 == 2),
    "2.3.4/match": ("2.3.4", "Multi-head attention", 2.0, lambda r: r >= 20),
    "2.3.5/count": ("2.3.5", "Parameter count", 3.0, lambda r: True),
    "2.4.2/fit-linear-log": ("2.4.2", "Log-log fit", 1.5, lambda r: r < 10),
}
TEMPLATE = {
    "ScaledDotAttention": "class ScaledDotAttention:\n    def forward(self, q):\n        pass\n"
}
SOLUTION_A = """
class ScaledDotAttention(nn.Module):
    def forward(self, queries, keys, values):
        '''Scaled dot-product attention.'''
        q = self.Q(queries)  # project
        scores = torch.bmm(self.K(keys), q.transpose(1, 2)) * self.scaling_factor
        weights = self.softmax(scores)
        return torch.bmm(weights.transpose(1, 2), self.V(values)), weights
"""
SOLUTION_A_RENAMED = """
class ScaledDotAttention(nn.Module):

    def forward(self, Qs, Ks, Vs):
        # the same code, other names and layout
        proj = self.Q( Qs )
        s = torch.bmm(self.K(Ks),
                      proj.transpose(1,2)) * self.scaling_factor
        attn = self.softmax(s)
        return (torch.bmm(attn.transpose(1,2), self.V(Vs)), attn)
"""


def failure_message(check_id: str, rank: int) -> str:
    if check_id == "2.2.1/context-3d":
        return MISMATCH.format(d=0.31 + rank / 100) if rank < 4 else "not implemented yet"
    if check_id == "2.2.2/context" and rank == 3:
        return HOSTILE_MESSAGE
    return "wrong"


def student(rank: int, **fields) -> SubmissionRecord:
    checks = []
    for check_id, (question, title, points, passes) in CHECKS.items():
        passed = passes(rank)
        output = "passed" if passed else failure_message(check_id, rank)
        checks.append(
            CheckRecord(
                check_id, question, title, points if passed else 0.0, points, passed, output
            )
        )
    fields.setdefault("feedback_path", f"s{rank:02d}/feedback.md")
    return SubmissionRecord(
        student_id=f"s{rank:02d}", status="graded", checks=tuple(checks), **fields
    )


def class_records() -> list[SubmissionRecord]:
    template = fingerprint_definitions(TEMPLATE)
    records = [student(rank, name=f"Student {rank}") for rank in range(30)]
    records[5] = student(5, name=HOSTILE_NAME, email="=cmd|' /C calc'!A0")
    for rank, source in [(11, SOLUTION_A), (12, SOLUTION_A_RENAMED), (13, SOLUTION_A)]:
        fingerprint = fingerprint_definitions({"ScaledDotAttention": source})
        records[rank] = student(rank, fingerprint=fingerprint, submission_id=f"sub{rank}")
    records[13] = student(13, fingerprint=records[11].fingerprint, submission_id="sub12")
    records += [
        SubmissionRecord(
            "x1",
            "unreadable",
            (),
            "x1/feedback.md",
            fingerprint=template,
            message="the notebook is not valid JSON",
        ),
        SubmissionRecord(
            "x2",
            "timed_out",
            (),
            "x2/feedback.md",
            fingerprint=template,
            message="grading took longer than 600 s",
        ),
        SubmissionRecord("x3", "crashed", (), None, message="sandbox exited with signal 9"),
    ]
    return records


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("class")
    paths = write_class_report(
        reversed(class_records()),
        out,
        title="HW2 <class> report",
        question_titles={"2.2.1": "ScaledDotAttention"},
        ignore_fingerprints={fingerprint_definitions(TEMPLATE)},
    )
    return {"out": out, "paths": paths, "html": paths.html.read_text(encoding="utf-8")}


# --- records ----------------------------------------------------------------------------------


def test_record_from_results_reads_what_render_gradescope_writes():
    from autograder.checks.base import CheckResult
    from autograder.outcome import GradingReport
    from autograder.report import render_gradescope

    results = render_gradescope(
        GradingReport(
            submission="nb.ipynb",
            checks=[
                CheckResult("2.2.1/a", "2.2.1", "first one", 2.0, 2.0, True, "visible"),
                CheckResult("2.3.4/b", "2.3.4", "second", 0.0, 1.5, False, "after_due_date", "no"),
            ],
        )
    )
    record = record_from_results(results, student_id="42", name="Ada", feedback_path="42/fb.md")
    assert [c.check_id for c in record.checks] == ["2.2.1/a", "2.3.4/b"]
    first, second = record.checks
    assert (first.question, first.title, first.score, first.passed) == (
        "2.2.1",
        "first one",
        2,
        True,
    )
    assert (second.max_score, second.passed, second.output) == (1.5, False, "no")
    assert record.status == "graded" and record.total == 2.0 and record.max_total == 3.5
    assert record.name == "Ada" and record.feedback_path == "42/fb.md"


def test_record_from_results_keeps_the_grading_status_and_summary():
    results = {
        "output": "top",
        "extra_data": {"status": "unreadable"},
        "tests": [{"name": "Summary", "number": "0", "output": "not a notebook", "score": 0}],
    }
    record = record_from_results(results, student_id="7", feedback_path=None)
    assert record.status == "unreadable" and record.checks == ()
    assert record.message == "not a notebook" and not record.graded


def test_records_are_validated():
    with pytest.raises(ValueError, match="relative"):
        SubmissionRecord("a", "graded", (), "/etc/passwd")
    with pytest.raises(ValueError, match="appears in more than one record"):
        analyse_class([SubmissionRecord("a", "graded"), SubmissionRecord("a", "crashed")])
    with pytest.raises(ValueError, match="non-numeric score"):
        record_from_results(
            {"tests": [{"number": "1", "score": "x"}]}, student_id="a", feedback_path=None
        )


# --- gradebook.csv ----------------------------------------------------------------------------


def test_gradebook_has_a_row_per_student_with_question_points(report):
    rows = read_csv(report["paths"].gradebook)
    header = report["paths"].gradebook.read_text(encoding="utf-8").splitlines()[0]
    assert header == (
        "student_id,name,email,2.2.1,2.2.2,2.3.1,2.3.2,2.3.4,2.3.5,2.4.2,total,max,status"
    )
    assert [r["student_id"] for r in rows] == [f"s{i:02d}" for i in range(30)] + ["x1", "x2", "x3"]
    by_id = {r["student_id"]: r for r in rows}
    assert by_id["s27"] == {
        "student_id": "s27", "name": "Student 27", "email": "", "2.2.1": "3", "2.2.2": "1.5",
        "2.3.1": "3", "2.3.2": "1.5", "2.3.4": "2", "2.3.5": "3", "2.4.2": "0", "total": "14",
        "max": "15.5", "status": "graded",
    }  # fmt: skip
    assert by_id["s00"]["total"] == "4.5" and by_id["s00"]["2.4.2"] == "1.5"
    assert by_id["x1"]["total"] == "0" and by_id["x1"]["status"] == "unreadable"
    assert by_id["s05"]["name"] == HOSTILE_NAME
    assert by_id["s05"]["email"].startswith("'="), "a formula must not reach a spreadsheet"


def test_numbers_have_no_float_noise():
    assert [format_number(v) for v in (0.1 + 0.2, 3.0, 2.5, 1 / 3, 0.0, -0.0, None)] == [
        "0.3", "3", "2.5", "0.3333", "0", "0", "",
    ]  # fmt: skip


# --- item analysis ----------------------------------------------------------------------------


def test_item_analysis_pass_rates_and_failures(report):
    rows = {r["check_id"]: r for r in read_csv(report["paths"].item_analysis)}
    assert list(rows) == list(CHECKS)
    context = rows["2.2.1/context-3d"]
    assert (context["graded"], context["passed"], context["pass_rate"]) == ("30", "24", "0.8")
    assert (
        context["failure_1"]
        == "mismatch in context (largest difference from the reference #; tolerance #)"
    )
    assert (context["failure_1_count"], context["failure_2"], context["failure_2_count"]) == (
        "4", "not implemented yet", "2",
    )  # fmt: skip
    assert context["failure_3"] == "" and context["max_points"] == "2"
    assert rows["2.2.2/context"]["pass_rate"] == "0.5"
    assert rows["2.3.5/count"]["pass_rate"] == "1" and rows["2.3.5/count"]["discrimination"] == ""


def test_discrimination_sign():
    checks = {c.check_id: c for c in analyse_class(class_records()).checks}
    strongest = checks["2.3.1/logits"]  # passed by exactly the six strongest
    assert strongest.pass_rate == pytest.approx(0.2)
    assert strongest.discrimination > 0.5
    assert checks["2.2.2/context"].discrimination > 0.6
    assert abs(checks["2.3.2/greedy"].discrimination) < 0.1  # passed by every fifth student
    assert checks["2.4.2/fit-linear-log"].discrimination < -0.3  # passed by the weakest
    assert checks["2.3.5/count"].discrimination is None  # everyone passed


def test_statistics_leave_out_submissions_that_were_not_graded():
    analysis = analyse_class(class_records())
    assert len(analysis.records) == 33 and len(analysis.graded) == 30
    assert [r.student_id for r in analysis.not_graded] == ["x1", "x2", "x3"]
    assert analysis.max_total == 15.5
    questions = {q.question: q for q in analysis.questions}
    assert questions["2.2.1"].full_marks_rate == pytest.approx(20 / 30)
    assert questions["2.2.1"].mean_score == pytest.approx((24 * 2 + 20 * 1) / 30)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("largest difference 0.31 at (0, 1, 2)", "largest difference 0.27 at (1, 0, 3)"),
        ("sums range 0.5..1.5", "sums range 0.25..2"),
        ("tolerance 1e-08 + 1e-06 x |expected|", "tolerance 1E-5 + 0.0001 x |expected|"),
        ("got -3.5\n  expected 2", "got 4   expected   2.0"),
    ],
)
def test_messages_differing_in_numbers_group_together(first, second):
    assert normalise_message(first) == normalise_message(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("shape mismatch in context_3d", "shape mismatch in context_2d"),
        ("see question 2.2.1", "see question 2.2.2"),
        ("dtype float32", "dtype float64"),
    ],
)
def test_identifiers_and_question_numbers_are_not_numbers(first, second):
    assert normalise_message(first) != normalise_message(second)


# --- fingerprints -----------------------------------------------------------------------------


def test_fingerprint_ignores_names_comments_docstrings_and_layout():
    a = fingerprint_definitions({"ScaledDotAttention": SOLUTION_A, "f": "def f(x):\n  return x"})
    b = fingerprint_definitions(
        {"f": "def f(y):  # id\n    return y", "ScaledDotAttention": SOLUTION_A_RENAMED}
    )
    assert a == b and re.fullmatch(r"[0-9a-f]{64}", a)


@pytest.mark.parametrize(
    "change",
    [
        ("transpose(1, 2)) *", "transpose(2, 1)) *"),  # different code
        ("self.softmax(scores)", "self.softmax(scores / 2)"),
        ("self.K(keys)", "self.V(keys)"),  # attributes are the interface
        ("* self.scaling_factor", "/ self.scaling_factor"),
    ],
)
def test_fingerprint_changes_with_the_code(change):
    original = fingerprint_definitions({"ScaledDotAttention": SOLUTION_A})
    edited = SOLUTION_A.replace(*change)
    assert edited != SOLUTION_A
    assert fingerprint_definitions({"ScaledDotAttention": edited}) != original


def test_fingerprint_of_unparsable_source_matches_only_the_same_text():
    broken = "def f(x:\n    return x"
    assert fingerprint_definitions({"f": broken}) == fingerprint_definitions({"f": broken + "\n"})
    assert fingerprint_definitions({"f": broken}) != fingerprint_definitions({"f": "def f(x): x"})


def test_identical_groups_ignore_the_template_and_group_partners():
    records = class_records()
    groups = group_identical(records, ignore={fingerprint_definitions(TEMPLATE)})
    assert [[r.student_id for r in g.records] for g in groups] == [["s11", "s12", "s13"]]
    assert len(group_identical(records)) == 2  # the template pair x1, x2 without the ignore set
    partners = [r for r in records if r.student_id in ("s12", "s13")]  # one group submission
    assert group_identical(partners) == ()


# --- report.html ------------------------------------------------------------------------------


def test_page_is_self_contained(report):
    page = report["html"]
    assert "<script" not in page.replace("&lt;script", "")
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "@import" not in page


def test_student_text_is_escaped(report):
    page = report["html"]
    assert HOSTILE_NAME not in page and "<script>" not in page
    assert "&lt;img src=x onerror=&quot;document.title=&#x27;pwned&#x27;&quot;&gt;" in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<title>HW2 &lt;class&gt; report</title>" in page


def test_page_holds_the_numbers_and_links(report):
    page = report["html"]
    assert 'data-stat="students"><div class="value">33<' in page
    assert 'data-stat="graded"><div class="value">30<' in page
    assert 'data-key="2.2.2/context"' in page and 'data-value="0.5"' in page
    assert '<a href="s29/feedback.md">feedback.md</a>' in page
    for status in ("unreadable", "timed_out", "crashed"):
        assert f'<span class="badge other">{status}</span>' in page
    assert "the notebook is not valid JSON" in page
    identical = page.split('id="identical"')[1].split("</section>")[0]
    assert all(s in identical for s in ("s11", "s12", "s13")) and "x1" not in identical
    assert "ScaledDotAttention" in page  # question titles from the caller


def test_feedback_links_cannot_carry_a_scheme(tmp_path):
    record = SubmissionRecord("a", "graded", (), "javascript:alert(1)/f b&c.md")
    page = write_class_report([record], tmp_path).html.read_text(encoding="utf-8")
    assert 'href="javascript%3Aalert%281%29/f%20b%26c.md"' in page
    assert 'href="javascript:' not in page


def test_an_empty_batch_still_writes_every_file(tmp_path):
    paths = write_class_report([], tmp_path)
    assert read_csv(paths.gradebook) == [] and read_csv(paths.item_analysis) == []
    assert "No failures." in paths.html.read_text(encoding="utf-8")
