"""Which uploaded file to grade: one documented rule for what students really upload.

The rule (docs/course-staff.md repeats it):

1. Look at every file in the submission folder and its subfolders, skipping hidden names
   (``.ipynb_checkpoints``, ``.DS_Store``, ``__MACOSX``). A zip file counts as the files inside it
   (read safely: no absolute or ``..`` names, no links, bounded sizes; zips inside zips are not
   opened).
2. The candidates are the notebooks (``.ipynb``); when there is none, the Python files (``.py``,
   e.g. a "Download as .py" export).
3. Among several candidates the one with the most graded definitions written (a graded class or
   function defined, minus the stubs left as given) wins; ties go to the name closest to
   ``nmt.ipynb`` (exactly ``nmt``, then a name that starts with ``nmt`` or ``hw``), then to the
   shallower path, then to the name in alphabetical order.
4. No candidate: nothing is graded and the results say so in one sentence, with score 0.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.manifest import QUESTIONS

SUFFIXES = (".ipynb", ".py")
"""Gradeable files, in order of preference."""
MAX_MEMBER_BYTES = 64 << 20
"""Largest file taken out of a zip."""
MAX_ZIP_BYTES = 256 << 20
"""Most bytes taken out of one zip."""
MAX_MEMBERS = 10_000
"""Most entries a zip may have before it is refused."""
MAX_SCAN_BYTES = 64 << 20
"""Largest candidate whose text is read to rank it."""


@dataclass(frozen=True)
class Candidate:
    """One gradeable file found in the submission."""

    path: Path
    """Where it is on disk (inside the private extraction folder for a zip's member)."""
    shown: str
    """Its name as the student uploaded it: ``nmt (3).ipynb``, ``hw2.zip/hw2/nmt.ipynb``."""


@dataclass(frozen=True)
class Selection:
    """What the rule chose."""

    chosen: Candidate | None
    """The file to grade; None when there is nothing gradeable."""
    others: tuple[str, ...]
    """The other candidates, not graded (as shown)."""
    seen: tuple[str, ...]
    """Every file looked at (as shown), for the message when nothing was gradeable."""
    problems: tuple[str, ...] = ()
    """Zips that could not be read, with why."""

    def describe(self) -> str:
        """One sentence for the student."""
        if self.chosen is None:
            found = f" (found: {', '.join(self.seen[:10])})" if self.seen else ""
            broken = f"; {'; '.join(self.problems)}" if self.problems else ""
            what = "is empty" if not self.seen else "holds no notebook (.ipynb) or .py file"
            return (
                f"Nothing was graded: your submission {what}{found}{broken}. Upload your "
                "notebook, nmt.ipynb, and submit again."
            )
        if not self.others:
            return f"Graded `{self.chosen.shown}`."
        others = ", ".join(f"`{o}`" for o in self.others)
        return (
            f"Graded `{self.chosen.shown}`, the file with the most of the graded code written; "
            f"not graded: {others}."
        )


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _unzip(archive: Path, shown: str, target: Path) -> tuple[list[Candidate], list[str], str]:
    """The gradeable members of a zip, copied into ``target``; also every member's shown name,
    and a problem ("" when none)."""
    candidates, seen, total = [], [], 0
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_MEMBERS:
                return [], [], f"{shown} has too many files"
            for info in members:
                name = PurePosixPath(info.filename)
                if info.is_dir() or name.is_absolute() or ".." in name.parts:
                    continue
                if _hidden(name.parts) or stat.S_ISLNK(info.external_attr >> 16):
                    continue
                seen.append(f"{shown}/{name}")
                if name.suffix.lower() not in SUFFIXES:
                    continue
                total += info.file_size
                if info.file_size > MAX_MEMBER_BYTES or total > MAX_ZIP_BYTES:
                    return candidates, seen, f"{shown} is too large to unpack"
                folder = target / str(len(candidates))
                folder.mkdir(mode=0o700)
                with zipped.open(info) as source:  # zipfile stops at the declared size
                    (folder / name.name).write_bytes(source.read(MAX_MEMBER_BYTES))
                candidates.append(Candidate(folder / name.name, f"{shown}/{name}"))
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
        return [], [], f"{shown} could not be opened as a zip ({type(error).__name__})"
    return candidates, seen, ""


def find_candidates(folder: Path, workdir: Path) -> tuple[list[Candidate], list[str], list[str]]:
    """Every gradeable file of the submission folder (zips unpacked into ``workdir``), every
    file seen, and the zips that could not be read."""
    candidates, seen, problems = [], [], []
    if not folder.is_dir():
        return candidates, seen, problems
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if _hidden(relative.parts) or path.is_symlink() or not path.is_file():
            continue
        shown = relative.as_posix()
        suffix = path.suffix.lower()
        if suffix == ".zip" or (suffix not in SUFFIXES and zipfile.is_zipfile(path)):
            target = workdir / f"zip{len(problems) + len(seen)}"
            target.mkdir(mode=0o700)
            found, names, problem = _unzip(path, shown, target)
            candidates += found
            seen += names or [shown]
            problems += [problem] if problem else []
            continue
        seen.append(shown)
        if suffix in SUFFIXES:
            candidates.append(Candidate(path, shown))
    return candidates, seen, problems


_STUB_MESSAGES = [s.message for q in QUESTIONS for s in q.stubs]
_NAMES = [name for q in QUESTIONS for name in q.definitions]


def written(path: Path) -> int:
    """How many graded definitions a file defines, minus the stubs it still holds (a cheap
    reading of the raw text: nothing is parsed or run)."""
    try:
        if path.stat().st_size > MAX_SCAN_BYTES:
            return 0
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    defined = sum(bool(re.search(rf"\b(class|def)\s+{re.escape(n)}\b", text)) for n in _NAMES)
    return defined - sum(message in text for message in _STUB_MESSAGES)


def _rank(candidate: Candidate) -> tuple:
    name = PurePosixPath(candidate.shown)
    stem = name.stem.lower()
    closeness = 0 if stem == "nmt" else 1 if stem.startswith(("nmt", "hw")) else 2
    return (-written(candidate.path), closeness, len(name.parts), candidate.shown)


def select_submission(folder: Path, workdir: Path) -> Selection:
    """Apply the rule (module docstring) to ``folder``; zips are unpacked into ``workdir``."""
    candidates, seen, problems = find_candidates(Path(folder), Path(workdir))
    for suffix in SUFFIXES:
        pool = sorted((c for c in candidates if c.path.suffix.lower() == suffix), key=_rank)
        if pool:
            others = tuple(c.shown for c in pool[1:])
            return Selection(pool[0], others, tuple(seen), tuple(problems))
    return Selection(None, (), tuple(seen), tuple(problems))
