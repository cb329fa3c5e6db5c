"""The class report of a batch: gradebook.csv, item_analysis.csv and report.html for TAs.

Decoupled from the engine: it reads one ``SubmissionRecord`` per student (built from each
results.json with ``record_from_results``) and writes the class-level files with
``write_class_report``. ``fingerprint_definitions`` gives the records their near-duplicate
fingerprint.
"""

from autograder.classreport.analysis import ClassAnalysis, analyse_class, normalise_message
from autograder.classreport.records import CheckRecord, SubmissionRecord, record_from_results
from autograder.classreport.similarity import fingerprint_definitions, group_identical
from autograder.classreport.write import ClassReportPaths, write_class_report

__all__ = [
    "CheckRecord",
    "ClassAnalysis",
    "ClassReportPaths",
    "SubmissionRecord",
    "analyse_class",
    "fingerprint_definitions",
    "group_identical",
    "normalise_message",
    "record_from_results",
    "write_class_report",
]
