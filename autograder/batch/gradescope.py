"""Gradescope's ``submission_metadata.yml``: which students each export folder belongs to.

An "Export Submissions" zip holds one folder per submission (``submission_123456789``) and a
YAML file whose top-level keys are those folders, each with ``:submitters:`` (a list of
``:name:``, ``:sid:``, ``:email:``) besides scores and dates. The keys are Ruby symbols written
with a leading colon; some exports carry Ruby type tags (``!ruby/object:...``). Both are read as
plain data by a safe loader that ignores unknown tags, so nothing in the file is executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from autograder.batch.inputs_model import InputError, Student

MAX_METADATA_BYTES = 64 << 20
"""Largest metadata file read."""


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that reads any tagged node as the plain mapping, list or text it holds."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_PlainLoader.add_multi_constructor("!", _plain)
_PlainLoader.add_multi_constructor("tag:", _plain)


def _field(entry: dict, name: str) -> Any:
    """``entry[":name"]`` or ``entry["name"]``."""
    for key in (f":{name}", name):
        if key in entry:
            return entry[key]
    return None


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def read_metadata(path: Path) -> dict[str, tuple[Student, ...]]:
    """The students of each submission folder; InputError when the file does not read."""
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise InputError(f"{path} is larger than {MAX_METADATA_BYTES} bytes")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_PlainLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InputError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a mapping of submission folders")
    folders = {}
    for folder, entry in data.items():
        submitters = _field(entry, "submitters") if isinstance(entry, dict) else None
        students = []
        for submitter in submitters if isinstance(submitters, list) else []:
            if not isinstance(submitter, dict):
                continue
            email = _text(_field(submitter, "email"))
            sid = _text(_field(submitter, "sid"))
            students.append(
                Student(sid or email or str(folder), _text(_field(submitter, "name")), email)
            )
        folders[str(folder)] = tuple(students) or (Student(str(folder)),)
    return folders
