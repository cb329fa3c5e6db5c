"""Data for the English-to-Pig-Latin task (handout 2.2.1, DESIGN.md section 3 "Data").

- the Pig Latin rules as the official course files apply them;
- reading a pairs file, keeping the pairs whose both sides match ``[a-z-]+``;
- the 30-token vocabulary: ``-`` = 0, ``a``..``z`` = 1..26, ``<SOS>`` = 27, ``<EOS>`` = 28,
  ``<EOP>`` = 29 (the end-of-prompt token of the decoder-only model, handout 2.3);
- a seeded 80/20 train/validation split (the ancestor's ``list(set(...))`` split changed with
  the hash seed; this one does not);
- mini-batches grouped by (source length, target length), as the handout's footnote 1 says;
- finding the official files, or building equivalent ones offline from the word list that the
  ``wordsegment`` package ships (Peter Norvig's unigram counts).
"""

from __future__ import annotations

import os
import random
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

CHARACTERS = "-abcdefghijklmnopqrstuvwxyz"
SOS_TOKEN = 27
EOS_TOKEN = 28
EOP_TOKEN = 29
VOCAB_SIZE = 30
CHAR_TO_INDEX = {c: i for i, c in enumerate(CHARACTERS)}
INDEX_TO_CHAR = {
    **dict(enumerate(CHARACTERS)),
    SOS_TOKEN: "<SOS>",
    EOS_TOKEN: "<EOS>",
    EOP_TOKEN: "<EOP>",
}

WORD_PATTERN = re.compile(r"[a-z-]+")
Pair = tuple[str, str]


def string_to_indices(word: str) -> list[int]:
    """Indices of the characters of ``word`` (no special tokens)."""
    try:
        return [CHAR_TO_INDEX[c] for c in word]
    except KeyError as error:
        raise ValueError(f"{word!r} has a character outside [a-z-]: {error.args[0]!r}") from None


def indices_to_string(indices: Sequence[int]) -> str:
    """Characters of ``indices``, stopping at the first ``<EOS>``; other special tokens dropped."""
    chars = []
    for index in indices:
        if index == EOS_TOKEN:
            break
        if index < len(CHARACTERS):
            chars.append(CHARACTERS[index])
    return "".join(chars)


# ---------------------------------------------------------------------------------------------
# Pig Latin, as the official files apply it (DESIGN.md section 3)
# ---------------------------------------------------------------------------------------------

VOWELS = "aeiou"
_LETTER_RUN = re.compile(r"[a-z]+")


def _convert_run(run: str, qu_block: bool) -> str:
    """One maximal run of letters: vowel-initial gets ``way``; otherwise the leading consonant
    cluster (ended by a, e, i, o, u or y, even a leading y) moves to the end, then ``ay``."""
    if run[0] in VOWELS:
        return run + "way"
    split = 0
    while split < len(run) and run[split] not in VOWELS + "y":
        split += 1
    if qu_block and run[split - 1 : split + 1] == "qu" and split > 0:
        split += 1
    return run[split:] + run[:split] + "ay"


def pig_latin(word: str, *, qu_block: bool = True) -> str:
    """Translate one word. Each maximal run of letters converts on its own; dashes, apostrophes
    and digits stay in place. ``qu_block`` moves ``qu`` as one block (``quit`` -> ``itquay``), as
    the small file does; the large file's added words do not (``quit`` -> ``uitqay``)."""
    return _LETTER_RUN.sub(lambda m: _convert_run(m.group(0), qu_block), word.lower())


# ---------------------------------------------------------------------------------------------
# Reading, splitting, batching
# ---------------------------------------------------------------------------------------------


def read_pairs(path: Path | str) -> list[Pair]:
    """Pairs of a ``english piglatin`` file, keeping those whose both sides match ``[a-z-]+``,
    in file order, without duplicates."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    pairs: dict[Pair, None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 2 and all(WORD_PATTERN.fullmatch(f) for f in fields):
            pairs[(fields[0], fields[1])] = None
    return list(pairs)


def split_pairs(
    pairs: Sequence[Pair], *, seed: int = 0, train_fraction: float = 0.8
) -> tuple[list[Pair], list[Pair]]:
    """Seeded shuffle, then the first ``train_fraction`` for training and the rest for
    validation. Independent of the hash seed."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    shuffled = sorted(pairs)
    random.Random(seed).shuffle(shuffled)
    cut = int(round(train_fraction * len(shuffled)))
    return shuffled[:cut], shuffled[cut:]


def group_by_lengths(pairs: Sequence[Pair]) -> dict[tuple[int, int], list[Pair]]:
    """Pairs grouped by (source length, target length), keys sorted."""
    groups: dict[tuple[int, int], list[Pair]] = defaultdict(list)
    for source, target in pairs:
        groups[(len(source), len(target))].append((source, target))
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class Batch:
    """A mini-batch of pairs of one (source length, target length)."""

    sources: torch.Tensor
    """(B, Ls + 1) source indices followed by ``<EOS>``."""
    targets: torch.Tensor
    """(B, Lt + 1) target indices followed by ``<EOS>``."""
    pairs: tuple[Pair, ...]
    """The words the rows came from."""


def make_batches(
    pairs: Sequence[Pair],
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: random.Random | None = None,
) -> Iterator[Batch]:
    """Batches of at most ``batch_size`` pairs that share (source length, target length).
    With ``shuffle``, the pairs inside a group and the order of batches are shuffled by
    ``generator`` (seeded by the caller)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = generator or random.Random(0)
    chunks: list[list[Pair]] = []
    for group in group_by_lengths(pairs).values():
        group = list(group)
        if shuffle:
            rng.shuffle(group)
        chunks.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    if shuffle:
        rng.shuffle(chunks)
    for chunk in chunks:
        sources = torch.tensor([string_to_indices(s) + [EOS_TOKEN] for s, _ in chunk])
        targets = torch.tensor([string_to_indices(t) + [EOS_TOKEN] for _, t in chunk])
        yield Batch(sources=sources, targets=targets, pairs=tuple(chunk))


def count_tokens(pairs: Sequence[Pair], *, decoder_only: bool = True) -> int:
    """Tokens one epoch feeds the model: ``<SOS> src <EOP> tgt`` for the decoder-only model
    (its input length L), or source + ``<EOS>`` and ``<SOS>`` + target for the encoder-decoder."""
    if decoder_only:
        return sum(len(s) + len(t) + 2 for s, t in pairs)
    return sum(len(s) + 1 + len(t) + 1 for s, t in pairs)


# ---------------------------------------------------------------------------------------------
# Finding the official files, or building equivalent ones offline
# ---------------------------------------------------------------------------------------------

DATASET_FILES = {"small": "pig_latin_small.txt", "large": "pig_latin_large.txt"}
DATA_DIR_ENV = "NMT_DATA_DIR"
OFFICIAL_SIZES = {"small": 3198, "large": 22402}
_REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dirs() -> list[Path]:
    """Where the official files are looked for, in order: ``$NMT_DATA_DIR``, ``./data``,
    ``<repo>/data`` and ``<repo>/../shared/data`` (where CI keeps them)."""
    dirs = []
    if os.environ.get(DATA_DIR_ENV):
        dirs.append(Path(os.environ[DATA_DIR_ENV]))
    dirs += [Path("data"), _REPO_ROOT / "data", _REPO_ROOT.parent / "shared" / "data"]
    return dirs


def find_official_file(name: str, data_dir: Path | str | None = None) -> Path | None:
    """The official file of dataset ``name`` ("small" or "large"), or None. An explicit
    ``data_dir`` must hold it."""
    if name not in DATASET_FILES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASET_FILES)}")
    if data_dir is not None:
        path = Path(data_dir) / DATASET_FILES[name]
        if not path.is_file():
            raise FileNotFoundError(f"--data-dir {data_dir} has no {DATASET_FILES[name]}")
        return path
    for directory in default_data_dirs():
        if (directory / DATASET_FILES[name]).is_file():
            return directory / DATASET_FILES[name]
    return None


def _norvig_words() -> list[str]:
    """Peter Norvig's unigram list (most frequent first), as the wordsegment package ships it."""
    import wordsegment

    path = Path(wordsegment.__file__).parent / "unigrams.txt"
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("\t", 1)[0]
        if WORD_PATTERN.fullmatch(word):
            words.append(word)
    return words


def build_offline_pairs(seed: int = 413) -> dict[str, list[Pair]]:
    """Small and large datasets equivalent to the official ones, from Norvig's word list.

    Small: 3198 words, about 62% of them among the 20,000 most frequent words (as in the official
    small file) and the rest from ranks 20,001-100,000, with ``qu`` moved as a block. Large: the
    small pairs plus the most frequent words not already in it, up to 22,402 pairs, without the
    ``qu`` block (as the official large file's added words). Deterministic for a given seed.
    """
    words = _norvig_words()
    rng = random.Random(seed)
    common, rare = words[:20000], words[20000:100000]
    n_common = 1983
    small_words = rng.sample(common, n_common) + rng.sample(
        rare, OFFICIAL_SIZES["small"] - n_common
    )
    small = [(w, pig_latin(w, qu_block=True)) for w in small_words]
    in_small = set(small_words)
    extra_count = OFFICIAL_SIZES["large"] - len(small)
    extra_words = [w for w in words if w not in in_small][:extra_count]
    large = small + [(w, pig_latin(w, qu_block=False)) for w in extra_words]
    return {"small": small, "large": large}


def write_pairs(pairs: Sequence[Pair], path: Path) -> Path:
    """Write pairs as ``english piglatin`` lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{s} {t}\n" for s, t in pairs), encoding="utf-8")
    return path


def load_dataset(name: str, data_dir: Path | str | None = None) -> tuple[list[Pair], str]:
    """The pairs of dataset ``name`` and where they came from: the official file when one is
    found (see ``default_data_dirs``), otherwise the offline equivalent."""
    path = find_official_file(name, data_dir)
    if path is not None:
        return read_pairs(path), str(path)
    return build_offline_pairs()[name], "offline (wordsegment word list)"
