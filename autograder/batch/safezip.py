"""Reading a zip of submissions safely: caps on size and entry count, no path escapes.

``extract_zip`` copies the notebooks (and Gradescope's ``submission_metadata.yml``) of a zip into
a folder and lists every other entry as skipped. It refuses the whole zip, with one line, when
it has more entries than ``max_entries``, when its entries claim or turn out to hold more than
``max_bytes`` uncompressed (a zip bomb), or when an entry's name would land outside the folder
(absolute paths, ``..``, drive letters). Symbolic links are skipped, never followed. Sizes are
counted while copying, so an entry whose header lies about its size is caught too.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.batch.inputs_model import METADATA, InputError, is_notebook_name

MAX_ENTRIES = 20_000
"""Most entries a zip may have (a class of 1000 with a few files each fits)."""
MAX_BYTES = 4 << 30
"""Most bytes a zip may hold uncompressed, all entries together (4 GiB)."""
CHUNK = 1 << 20


class ZipRefused(InputError):
    """A zip that is not read at all; the message is one line."""


@dataclass(frozen=True)
class ZipContents:
    """What ``extract_zip`` took from a zip and what it left."""

    extracted: tuple[str, ...]
    """Names of the entries written into the folder."""
    skipped: tuple[str, ...]
    """Names of the entries left out (not notebooks, folders aside), for the TA to see."""


def safe_name(name: str) -> PurePosixPath:
    """The entry's relative path; ZipRefused when it would land outside the target folder."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if (
        "\0" in cleaned
        or path.is_absolute()
        or ".." in path.parts
        or (path.parts and path.parts[0].endswith(":"))
    ):
        raise ZipRefused(f"refusing the zip: entry {name!r} would be written outside its folder")
    return path


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _wanted(path: PurePosixPath) -> bool:
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in path.parts)
    return not hidden and (is_notebook_name(path.name) or path.name == METADATA)


def _check_totals(infos: list[zipfile.ZipInfo], *, max_entries: int, max_bytes: int) -> None:
    if len(infos) > max_entries:
        raise ZipRefused(
            f"refusing the zip: {len(infos)} entries, more than the limit of {max_entries}"
        )
    claimed = sum(info.file_size for info in infos)
    if claimed > max_bytes:
        raise ZipRefused(
            f"refusing the zip: {claimed} bytes uncompressed, more than the limit of "
            f"{max_bytes} (a zip bomb?)"
        )


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one entry, at most ``budget`` bytes; the bytes copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    copied = 0
    with archive.open(info) as source, open(target, "wb") as sink:
        while block := source.read(CHUNK):
            copied += len(block)
            if copied > budget:
                raise ZipRefused(
                    "refusing the zip: its entries hold more than the limit of bytes "
                    "uncompressed (a zip bomb?)"
                )
            sink.write(block)
    return copied


def extract_zip(
    zip_path: Path, target: Path, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES
) -> ZipContents:
    """Copy the notebooks and the metadata of ``zip_path`` into ``target`` (which must not
    exist yet); ZipRefused when the zip is unreadable or unsafe (see the module docstring)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ZipRefused(f"cannot read the zip {zip_path}: {error}") from None
    extracted, skipped = [], []
    target.mkdir(mode=0o700, parents=True)
    try:
        with archive:
            infos = archive.infolist()
            _check_totals(infos, max_entries=max_entries, max_bytes=max_bytes)
            budget = max_bytes
            for info in infos:
                path = safe_name(info.filename)
                if info.is_dir():
                    continue
                if _is_link(info) or not _wanted(path):
                    skipped.append(info.filename)
                    continue
                budget -= _copy(archive, info, target.joinpath(*path.parts), budget)
                extracted.append(info.filename)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise ZipRefused(f"cannot read the zip {zip_path}: {error}") from None
    except ZipRefused:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return ZipContents(tuple(extracted), tuple(skipped))
