"""Deployments of the one engine where the course runs it.

- ``gradescope``: ``python grade.py build-autograder`` writes the zip Gradescope runs
  (``setup.sh``, ``run_autograder``, a grader-only wheel, the rubric, the goldens);
  ``container`` is what ``run_autograder`` runs inside it, ``select`` picks the uploaded file.
- ``checker``: ``python grade.py build-student-checker`` writes the students' wheel (public
  checks, public goldens, the sandbox); ``nmt_check`` is its command, ``nmt-check``.
- ``contents`` chooses what each wheel ships; ``wheel`` writes wheels.

Every front end calls ``autograder.engine``, so a submission gets the same score everywhere.
See docs/course-staff.md and docs/students.md.
"""
