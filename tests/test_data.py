"""Pig Latin rules, the official files, the offline builder, splits and batches."""

from __future__ import annotations

import pytest

from reference.data import (
    EOS_TOKEN,
    OFFICIAL_SIZES,
    VOCAB_SIZE,
    build_offline_pairs,
    count_tokens,
    find_official_file,
    indices_to_string,
    make_batches,
    pig_latin,
    read_pairs,
    split_pairs,
    string_to_indices,
)


@pytest.mark.parametrize(
    ("english", "expected"),
    [
        ("team", "eamtay"),
        ("impress", "impressway"),
        ("shopping", "oppingshay"),
        ("young", "youngay"),
        ("rhythm", "ythmrhay"),
        ("quit", "itquay"),
        ("square", "aresquay"),
        ("md", "mday"),
        ("bond-street", "ondbay-eetstray"),
        ("won't", "onway'tay"),
    ],
)
def test_rules(english, expected):
    assert pig_latin(english) == expected


def test_qu_without_block():
    assert pig_latin("question", qu_block=False) == "uestionqay"


def test_vocabulary_round_trip():
    assert VOCAB_SIZE == 30
    assert string_to_indices("-az") == [0, 1, 26]
    assert indices_to_string([8, 9, EOS_TOKEN, 3]) == "hi"
    with pytest.raises(ValueError, match="outside"):
        string_to_indices("Abc")


def test_official_small_file_follows_the_rules(official_data):
    pairs = read_pairs(official_data / "pig_latin_small.txt")
    assert len(pairs) == OFFICIAL_SIZES["small"]
    assert [p for p in pairs if pig_latin(p[0]) != p[1]] == []
    # every line, apostrophes and digits included
    lines = (official_data / "pig_latin_small.txt").read_text().split("\n")
    fields = [line.split() for line in lines if len(line.split()) == 2]
    assert all(pig_latin(english) == target for english, target in fields)


ABBREVIATIONS = {("md", "mayday"), ("mp", "maypay")}


def test_official_large_file_follows_the_rules(official_data):
    pairs = read_pairs(official_data / "pig_latin_large.txt")
    assert len(pairs) == OFFICIAL_SIZES["large"]
    small = set(read_pairs(official_data / "pig_latin_small.txt"))
    assert small <= set(pairs)
    unexplained = [
        (s, t)
        for s, t in pairs
        if t != pig_latin(s, qu_block=False)
        and not ("qu" in s and t == pig_latin(s))  # small-file words keep the qu block
        and (s, t) not in ABBREVIATIONS
    ]
    assert unexplained == []


def test_offline_builder_is_deterministic_and_sized():
    first, second = build_offline_pairs(), build_offline_pairs()
    assert first == second
    assert len(first["small"]) == OFFICIAL_SIZES["small"]
    assert len(first["large"]) == OFFICIAL_SIZES["large"]
    assert set(first["small"]) <= set(first["large"])
    assert all(pig_latin(s, qu_block=False) == t for s, t in first["large"][3198:])
    assert build_offline_pairs(seed=1)["small"] != first["small"]


def test_explicit_data_dir_must_hold_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pig_latin_small.txt"):
        find_official_file("small", tmp_path)
    (tmp_path / "pig_latin_small.txt").write_text("cat atcay\nDog ogday\n")
    assert read_pairs(find_official_file("small", tmp_path)) == [("cat", "atcay")]


def test_split_is_seeded_and_hash_independent():
    pairs = [(f"w{i}", "x") for i in range(100)]
    train, val = split_pairs(pairs, seed=3)
    assert (train, val) == split_pairs(list(reversed(pairs)), seed=3)
    assert len(train) == 80 and len(val) == 20 and not set(train) & set(val)
    assert split_pairs(pairs, seed=4) != (train, val)


def test_batches_share_lengths():
    pairs = [("ab", "abway"), ("cd", "dcay"), ("ef", "efway"), ("xyz", "yzxay")] * 3
    batches = list(make_batches(pairs, batch_size=4))
    assert sum(b.sources.size(0) for b in batches) == len(pairs)
    for batch in batches:
        assert len({(len(s), len(t)) for s, t in batch.pairs}) == 1
        assert batch.sources.size(0) <= 4
        assert (batch.sources[:, -1] == EOS_TOKEN).all()


def test_token_count():
    assert count_tokens([("ab", "abway")]) == 2 + 5 + 2
    assert count_tokens([("ab", "abway")], decoder_only=False) == 3 + 6
