"""Notebook template, part 1: the data (handout 2.2.1 "Background").

Read by autograder/notebook/plan.py (see its docstring for the format).
"""
# ruff: noqa: E402, F401, F821

# %% [markdown]
r"""
## Data

**The task.** Pig Latin turns an English word into a new word by three rules:

1. a word that starts with a consonant moves that letter to its end and adds "ay":
   **team** $\rightarrow$ **eamtay**;
2. a word that starts with a vowel is left as it is and gets "way": **impress** $\rightarrow$
   **impressway**;
3. some consonant pairs, such as "sh", move together: **shopping** $\rightarrow$ **oppingshay**.

A sentence is translated word by word: **i went shopping** $\rightarrow$ **iway entway
oppingshay**. The model has to learn these rules *implicitly* from (English, Pig Latin) word
pairs, character by character.

**The data.** The small dataset has the 3198 unique words of Jane Austen's "Sense and
Sensibility"; the large one adds the 20,000 most used English words of Peter Norvig's corpus,
22,402 words in all.

**The vocabulary.** The handout says 29 tokens: the 26 letters, the dash `-`, and the special
tokens `<SOS>` (start of sequence) and `<EOS>` (end of sequence). This notebook has **30**: it
adds `<EOP>` (end of prompt), which the decoder-only model of section 2.3 needs. The
encoder-decoder of section 2.2 never sees `<EOP>`, so one row of its $30 \times H$ embedding
stays unused; nothing else changes.
"""

# %%
# include data: CHARACTERS, SOS_TOKEN, EOS_TOKEN, EOP_TOKEN, VOCAB_SIZE, CHAR_TO_INDEX
# include data: INDEX_TO_CHAR, WORD_PATTERN, Pair, string_to_indices, indices_to_string

# %% [markdown]
r"""
The rules as the course files apply them: each run of letters converts on its own (a dash stays
in place); the leading consonants up to the first vowel (a, e, i, o, u, or y) move together; "qu"
moves as a block in the small file's words.
"""

# %%
# include data: VOWELS, _LETTER_RUN, _convert_run, pig_latin

for english in ("team", "impress", "shopping", "quit", "well-known"):
    print(f"{english} -> {pig_latin(english)}")

# %% [markdown]
r"""
Reading a file of `english piglatin` lines, the 80/20 training/validation split (seeded, so it is
the same every run), and the mini-batches. As the handout's footnote says, the pairs of a
mini-batch all have the same source length and the same target length, so no padding is needed.
"""

# %%
# include data: read_pairs, split_pairs, group_by_lengths, Batch, make_batches, count_tokens

# %% [markdown]
r"""
### Loading the data

The course files `pig_latin_small.txt` and `pig_latin_large.txt` are looked for, in this order:

1. next to this notebook (in Colab: upload them in the *Files* panel, on the left);
2. in `DATA_DIR`, when you set it in the parameters cell;
3. on the course website, when `DOWNLOAD` is true (the file is saved next to this notebook);
4. otherwise they are built offline: the same rules applied to the same kind of word list, the
   one the `wordsegment` package ships (Peter Norvig's). That needs `pip install wordsegment`
   (in Colab: run `!pip install wordsegment` in a cell). The words differ from the course files,
   so your numbers will too: use the course files for your report.

The `smoke` profile keeps a random subset of each dataset.
"""

# %%
# include data: DATASET_FILES, OFFICIAL_SIZES, _norvig_words, build_offline_pairs

COURSE_URL = "http://www.cs.toronto.edu/~jba/"


def download_course_file(name: str) -> Path | None:
    """Download the course file of dataset ``name`` next to this notebook (None on failure)."""
    url, path = COURSE_URL + DATASET_FILES[name], Path(DATASET_FILES[name])
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            path.write_bytes(response.read())
    except OSError as error:
        print(f"could not download {url}: {error}")
        return None
    if len(read_pairs(path)) < OFFICIAL_SIZES[name] // 2:
        path.unlink()
        print(f"{url} did not serve the course file")
        return None
    return path


def find_course_file(name: str) -> Path | None:
    """The course file of dataset ``name``: next to the notebook, in DATA_DIR, or downloaded."""
    filename = DATASET_FILES[name]
    if Path(filename).is_file():
        return Path(filename)
    if DATA_DIR is not None:
        if (Path(DATA_DIR) / filename).is_file():
            return Path(DATA_DIR) / filename
        print(f"DATA_DIR {DATA_DIR} has no {filename}")
    return download_course_file(name) if DOWNLOAD else None


def load_pairs(name: str) -> tuple[list[Pair], str]:
    """The pairs of dataset ``name`` ("small" or "large") and where they came from."""
    path = find_course_file(name)
    if path is not None:
        return read_pairs(path), str(path)
    try:
        pairs = build_offline_pairs()[name]
    except ImportError:
        raise RuntimeError(
            f"{DATASET_FILES[name]} was not found (next to this notebook, in DATA_DIR or online) "
            "and building it offline needs the wordsegment package: run `!pip install "
            "wordsegment`, or put the course files next to this notebook, then run this cell again"
        ) from None
    return pairs, "the offline builder (wordsegment's word list)"


# %%
loaded = {}
for name in ("small", "large"):
    pairs, source = load_pairs(name)
    if profile.subsample:
        pairs = random.Random(SEED).sample(sorted(pairs), profile.subsample[name])
    train, val = split_pairs(pairs, seed=SEED)
    loaded[name] = {"train": train, "val": val, "source": source}
    print(f"{name}: {len(train)} training and {len(val)} validation pairs, from {source}")
datasets = loaded
print("examples:", datasets["small"]["train"][:4])
