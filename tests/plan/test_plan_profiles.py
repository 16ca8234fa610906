"""Profiles: the shipped three, extends, every error naming file and key, and pick_op."""

from __future__ import annotations

import json
import math
import pickle
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stress.config import load_settings
from stress.errors import ConfigError, ProfileError
from stress.metadb.schema import JSON_TABLES
from stress.plan.profiles import (
    OP_ORDER,
    WRITE_OPS,
    OpKind,
    Profile,
    check_profiles,
    format_profile,
    format_profile_list,
    load_profile,
    load_profiles,
)

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"

# The ancestor's weights: bulk / single / select / aggregate / join / DDL.
ANCESTOR = {
    "inserter": (0.70, 0.15, 0.05, 0.03, 0.02, 0.05),
    "query": (0.05, 0.05, 0.40, 0.25, 0.20, 0.05),
    "mixed": (0.35, 0.15, 0.20, 0.15, 0.10, 0.05),
}

VALID = """\
description = "test profile"
[weights]
bulk_insert = 2
single_insert = 1
simple_select = 1
[single_insert.tables]
token_usage = 3
messages = 1
[bulk_insert.tables]
ticks = 1
"""


def _write(folder: Path, **files: str) -> Path:
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


def _weights_toml(weights: dict[str, float], tables: str = "token_usage = 1") -> str:
    lines = ["[weights]", *(f"{op} = {weight!r}" for op, weight in weights.items())]
    lines += ["[single_insert.tables]", tables, "[bulk_insert.tables]", tables]
    return "\n".join(lines) + "\n"


def test_op_order_and_write_ops() -> None:
    assert [op.value for op in OP_ORDER] == [
        "bulk_insert",
        "single_insert",
        "simple_select",
        "aggregate",
        "complex_join",
        "schema_ddl",
    ]
    assert {OpKind.BULK_INSERT, OpKind.SINGLE_INSERT, OpKind.SCHEMA_DDL} == WRITE_OPS


@pytest.mark.parametrize("name", sorted(ANCESTOR))
def test_shipped_profiles_have_the_ancestors_weights(name: str) -> None:
    profile = load_profiles(SHIPPED)[name]
    assert [op for op, _ in profile.op_weights] == list(OP_ORDER)
    assert [weight for _, weight in profile.op_weights] == pytest.approx(ANCESTOR[name])
    assert profile.cumulative_op_weights()[-1] == 1.0
    for op in (OpKind.SINGLE_INSERT, OpKind.BULK_INSERT):
        tables = profile.tables_of(op)
        assert tables and all(table in JSON_TABLES for table, _ in tables)
        assert math.fsum(weight for _, weight in tables) == pytest.approx(1.0)


def test_shipped_profiles_favour_the_hottest_table() -> None:
    mixed = load_profile(SHIPPED, "mixed")
    assert max(mixed.single_insert_tables, key=lambda pair: pair[1])[0] == "token_usage"
    assert set(load_profiles(SHIPPED)) == {"inserter", "query", "mixed"}


def test_pick_op_follows_the_cumulative_table() -> None:
    inserter = load_profile(SHIPPED, "inserter")
    assert inserter.pick_op(0.0) is OpKind.BULK_INSERT
    assert inserter.pick_op(0.69) is OpKind.BULK_INSERT
    assert inserter.pick_op(0.71) is OpKind.SINGLE_INSERT
    assert inserter.pick_op(0.96) is OpKind.SCHEMA_DDL
    assert inserter.pick_op(math.nextafter(1.0, 0.0)) is OpKind.SCHEMA_DDL


@pytest.mark.parametrize("u", [-0.1, 1.0, 1.5, math.nan])
def test_pick_op_rejects_draws_outside_the_unit_interval(u: float) -> None:
    with pytest.raises(ValueError, match="must be a uniform draw"):
        load_profile(SHIPPED, "mixed").pick_op(u)


def test_trailing_zero_weight_op_is_never_picked(tmp_path: Path) -> None:
    weights = {"bulk_insert": 0.1, "single_insert": 0.2, "aggregate": 0.7, "schema_ddl": 0}
    profile = load_profile(_write(tmp_path, p=_weights_toml(weights)), "p")
    assert profile.cumulative_op_weights()[3:] == (1.0, 1.0, 1.0)
    assert profile.pick_op(math.nextafter(1.0, 0.0)) is OpKind.AGGREGATE


@given(weights=st.lists(st.integers(0, 50), min_size=6, max_size=6).filter(lambda ws: sum(ws) > 0))
def test_pick_op_over_a_grid_matches_the_weights(weights: list[int]) -> None:
    grid = 5000
    with tempfile.TemporaryDirectory() as folder:
        text = _weights_toml(dict(zip(OP_ORDER, weights, strict=True)))
        profile = load_profile(_write(Path(folder), p=text), "p")
    counts = Counter(profile.pick_op(i / grid) for i in range(grid))
    for op, weight in zip(OP_ORDER, weights, strict=True):
        # A grid of N points puts within one point of N * share into each interval.
        assert abs(counts[op] - grid * weight / sum(weights)) <= 1
        assert (counts[op] == 0) == (weight == 0)


@given(table_weights=st.lists(st.integers(1, 20), min_size=1, max_size=5))
def test_pick_table_over_a_grid_matches_the_weights(table_weights: list[int]) -> None:
    names = JSON_TABLES[: len(table_weights)]
    tables = "\n".join(f"{n} = {w}" for n, w in zip(names, table_weights, strict=True))
    with tempfile.TemporaryDirectory() as folder:
        text = _weights_toml({"single_insert": 1}, tables)
        profile = load_profile(_write(Path(folder), p=text), "p")
    grid = 1000
    counts = Counter(profile.pick_table(OpKind.SINGLE_INSERT, i / grid) for i in range(grid))
    for name, weight in zip(names, table_weights, strict=True):
        assert abs(counts[name] - grid * weight / sum(table_weights)) <= 1


@given(
    weights=st.dictionaries(
        st.sampled_from([op.value for op in OP_ORDER]),
        st.floats(-10, 10, allow_nan=False) | st.integers(-10, 10),
        min_size=1,
    )
)
def test_weights_either_load_normalized_or_name_the_bad_key(
    weights: dict[str, float],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), p=_weights_toml(weights))
        if any(weight < 0 for weight in weights.values()):
            with pytest.raises(ProfileError, match=r"p\.toml: weights\.\w+: weight must be"):
                load_profile(path, "p")
        elif sum(weights.values()) == 0:
            with pytest.raises(ProfileError, match=r"p\.toml: weights: all zero"):
                load_profile(path, "p")
        else:
            profile = load_profile(path, "p")
            total = math.fsum(weights.values())
            shares = dict(profile.op_weights)
            for op in OP_ORDER:
                assert shares[op] == pytest.approx(weights.get(op.value, 0) / total)


def test_extends_overrides_leaf_keys_and_keeps_the_rest(tmp_path: Path) -> None:
    child = """\
extends = "base"
[weights]
simple_select = 5
[single_insert.tables]
messages = 0
sessions = 4
[think]
max_ms = 50
"""
    _write(tmp_path, base=VALID + "[think]\nmin_ms = 1\nmax_ms = 9\n", child=child)
    profile = load_profile(tmp_path, "child")
    assert profile.extends == "base"
    assert profile.description == "test profile"
    assert dict(profile.op_weights)[OpKind.SIMPLE_SELECT] == pytest.approx(5 / 8)
    assert dict(profile.op_weights)[OpKind.BULK_INSERT] == pytest.approx(2 / 8)
    assert profile.single_insert_tables == (("token_usage", 3 / 7), ("sessions", 4 / 7))
    assert profile.bulk_insert_tables == (("ticks", 1.0),)
    assert (profile.think_min_ms, profile.think_max_ms) == (1.0, 50.0)


def test_extends_chains_through_several_profiles(tmp_path: Path) -> None:
    _write(
        tmp_path,
        a=VALID,
        b='extends = "a"\ndescription = "b"\n',
        c='extends = "b"\n[bulk_insert]\nbatch_min = 5\nbatch_max = 6\n',
    )
    profile = load_profile(tmp_path, "c")
    assert (profile.description, profile.extends) == ("b", "b")
    assert (profile.batch_min, profile.batch_max) == (5, 6)
    assert profile.op_weights == load_profile(tmp_path, "a").op_weights


def test_load_profile_reads_only_the_chain(tmp_path: Path) -> None:
    _write(tmp_path, good=VALID, broken="[weights\n")
    assert load_profile(tmp_path, "good").name == "good"
    with pytest.raises(ProfileError, match=r"broken\.toml: syntax: not valid TOML"):
        load_profiles(tmp_path)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("bogus = 1\n" + VALID, "bogus", "unknown key; valid keys: description"),
        (VALID.replace("bulk_insert = 2", "bulk_insrt = 2"), "weights.bulk_insrt", "unknown op"),
        (VALID.replace("messages = 1", "mesages = 1"), "single_insert.tables.mesages", "unknown"),
        (VALID.replace("ticks = 1", "ticks = -1"), "bulk_insert.tables.ticks", "0 or more"),
        (VALID.replace("bulk_insert = 2", "bulk_insert = -2"), "weights.bulk_insert", "0 or more"),
        (VALID.replace("bulk_insert = 2", 'bulk_insert = "a"'), "weights.bulk_insert", "number"),
        (VALID.replace("bulk_insert = 2", "bulk_insert = true"), "weights.bulk_insert", "number"),
        (VALID.replace("bulk_insert = 2", "bulk_insert = inf"), "weights.bulk_insert", "finite"),
        (VALID + "[bulk_insert]\nbatch_mn = 3\n", "bulk_insert.batch_mn", "unknown key"),
        (VALID + "[bulk_insert]\nbatch_min = 0\n", "bulk_insert.batch_min", "at least 1"),
        (VALID + "[bulk_insert]\nbatch_min = 2.5\n", "bulk_insert.batch_min", "whole number"),
        (VALID + "[bulk_insert]\nbatch_min = 9\nbatch_max = 3\n", "bulk_insert.batch_min", "above"),
        (VALID + "[think]\nmin_ms = 9\nmax_ms = 3\n", "think.min_ms", "above think.max_ms"),
        (VALID + "[think]\nmin_ms = -1\n", "think.min_ms", "0 or more"),
        ("think = 3\n" + VALID, "think", "must be a table"),
        (VALID.replace('"test profile"', "3"), "description", "must be a string"),
        (VALID.replace("= 2\nsingle_insert = 1\nsimple_select = 1", "= 0"), "weights", "all zero"),
        ("[weights]\nbulk_insert = 1\n", "bulk_insert.tables", "no table with a positive"),
        ('extends = "nowhere"\n' + VALID, "extends", "no profile named 'nowhere'"),
        ('extends = "p"\n' + VALID, "extends", "cycle: p -> p"),
        ("[weights]\nbulk_insert = = 1\n", "syntax", "line 2"),
    ],
)
def test_each_error_names_the_file_and_the_key(text: str, key: str, problem: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _write(Path(folder), p=text)
        with pytest.raises(ProfileError) as caught:
            load_profile(Path(folder), "p")
    error = caught.value
    assert Path(error.path).name == "p.toml"
    assert error.key == key
    assert problem in error.problem
    assert str(error).startswith(f"{error.path}: {key}: ")


def test_unknown_op_lists_the_valid_ones(tmp_path: Path) -> None:
    _write(tmp_path, p="[weights]\nselect = 1\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path, "p")
    assert all(op.value in caught.value.problem for op in OP_ORDER)


def test_cycle_through_two_files_names_the_path(tmp_path: Path) -> None:
    # b.toml holds the `extends` that closes the loop, so it is the file to fix.
    _write(tmp_path, a='extends = "b"\n' + VALID, b='extends = "a"\n')
    with pytest.raises(ProfileError, match=r"/b\.toml: extends: cycle: a -> b -> a"):
        load_profile(tmp_path, "a")


def test_error_in_a_parent_names_the_parents_file(tmp_path: Path) -> None:
    _write(tmp_path, base="oops = 1\n" + VALID, child='extends = "base"\n')
    with pytest.raises(ProfileError, match=r"base\.toml: oops: unknown key"):
        load_profile(tmp_path, "child")


def test_missing_folder_empty_folder_and_missing_name(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such folder"):
        load_profiles(tmp_path / "absent")
    with pytest.raises(ProfileError, match=r"folder: holds no \*\.toml profile"):
        load_profiles(tmp_path)
    _write(tmp_path, p=VALID)
    with pytest.raises(ProfileError, match=r"q\.toml: name: no such profile \(p\)"):
        load_profile(tmp_path, "q")


def test_profile_error_pickles(tmp_path: Path) -> None:
    _write(tmp_path, p="bogus = 1\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path, "p")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.path, copy.key, str(copy)) == (caught.value.path, "bogus", str(caught.value))


def test_profile_rejects_ops_out_of_order() -> None:
    with pytest.raises(ValueError, match="op_weights must list"):
        Profile("x", Path("x.toml"), "", ((OpKind.AGGREGATE, 1.0),), (), ())


def test_to_dict_is_json_and_resolved() -> None:
    data = load_profile(SHIPPED, "query").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["extends"] == "mixed"
    assert data["weights"]["simple_select"] == pytest.approx(0.40)
    assert data["cumulative"]["schema_ddl"] == 1.0
    assert data["single_insert_tables"]["token_usage"] > 0


def test_format_profile_shows_weights_cumulative_tables_and_ranges() -> None:
    profile = load_profile(SHIPPED, "inserter")
    text = format_profile(profile)
    assert "bulk_insert       0.7000      0.7000" in text
    assert "schema_ddl        0.0500      1.0000" in text
    assert "token_usage" in text
    assert "STRESS_BATCH_MIN .. STRESS_BATCH_MAX rows" in text
    with_settings = format_profile(profile, load_settings({"STRESS_THINK_MAX_MS": "50"}))
    assert "10 (STRESS_THINK_MIN_MS) .. 50 (STRESS_THINK_MAX_MS) ms" in with_settings


def test_format_profile_list_has_one_line_per_profile() -> None:
    lines = format_profile_list(load_profiles(SHIPPED)).splitlines()
    assert [line.split()[0] for line in lines] == ["inserter", "mixed", "query"]
    assert lines[0].endswith("(extends mixed)")
    assert "extends" not in lines[1]


def test_check_profiles_names_the_setting() -> None:
    profiles = load_profiles(SHIPPED)
    check_profiles(load_settings({}), profiles)
    with pytest.raises(ConfigError, match=r"^STRESS_USERS=inserter=1,soak=2: class 'soak'"):
        check_profiles(load_settings({"STRESS_USERS": "inserter=1,soak=2"}), profiles)
    with pytest.raises(ConfigError, match=r"^--query-users=2: class 'query' has no profile"):
        check_profiles(load_settings({}, {"query_users": "2"}), {"inserter": profiles["inserter"]})


def test_check_profiles_completes_ranges_from_the_settings(tmp_path: Path) -> None:
    _write(tmp_path, inserter=VALID + "[bulk_insert]\nbatch_min = 500\n")
    profiles = load_profiles(tmp_path)
    check_profiles(load_settings({"STRESS_USERS": "inserter=1"}), profiles)
    narrow = {"STRESS_USERS": "inserter=1", "STRESS_BATCH_MIN": "1", "STRESS_BATCH_MAX": "400"}
    expected = (
        r"inserter\.toml: bulk_insert\.batch_min: .* \(500\) is above STRESS_BATCH_MAX \(400\)"
    )
    with pytest.raises(ProfileError, match=expected):
        check_profiles(load_settings(narrow), profiles)
