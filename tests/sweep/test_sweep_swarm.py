"""Swarm draws: a pure function of the seed, always within bounds, always a valid run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stress.config import load_settings
from stress.engine.faultplan import fault_plan
from stress.sweep.errors import SwarmBoundsError
from stress.sweep.seeds import MAX_SEED
from stress.sweep.swarm import DEFAULT_BOUNDS, load_bounds, swarm_draw

BOUNDS = load_bounds(DEFAULT_BOUNDS)


def test_the_same_seed_draws_the_same_configuration_in_another_interpreter() -> None:
    """Pure: no state carried between draws, nothing of the process (hash seeds, order)."""
    here = {seed: swarm_draw(seed, BOUNDS) for seed in (7, 3, 7, 2**62)}
    probe = (
        "import json; from stress.sweep.swarm import DEFAULT_BOUNDS, load_bounds, swarm_draw\n"
        "b = load_bounds(DEFAULT_BOUNDS)\n"
        "print(json.dumps({s: swarm_draw(s, b) for s in (2**62, 7, 3)}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    there = {int(seed): drawn for seed, drawn in json.loads(done.stdout).items()}
    assert there == here
    assert swarm_draw(7, BOUNDS) == swarm_draw(7, BOUNDS)


def test_seeds_draw_different_configurations() -> None:
    drawn = {json.dumps(swarm_draw(seed, BOUNDS), sort_keys=True) for seed in range(40)}
    assert len(drawn) > 30


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_SEED - 1))
def test_every_draw_is_within_bounds_and_a_valid_run(seed: int) -> None:
    drawn = swarm_draw(seed, BOUNDS)
    run = load_settings(environ=drawn)
    fault_plan(run)  # a kill has worker processes, a lock outlasts the busy timeout
    counts = run.user_counts()
    assert sum(counts.values()) >= 1
    assert BOUNDS.users is not None and BOUNDS.batch is not None
    for name, count in counts.items():
        low, high = BOUNDS.users[name]
        assert low <= count <= high or (count == 1 and high >= 1)
    assert BOUNDS.batch.min[0] <= run.batch_min <= BOUNDS.batch.min[1]
    assert run.batch_min <= run.batch_max <= max(run.batch_min, BOUNDS.batch.max[1])
    assert run.processes in (0, 1, 2)
    if run.faults is not None and "kill" in run.faults.text:
        assert run.processes >= 1 and run.on_crash == "restart"


def test_a_section_left_out_is_not_drawn(tmp_path: Path) -> None:
    bounds_file = tmp_path / "b.toml"
    bounds_file.write_text('[choices]\nconnection = ["long-lived"]\n')
    assert swarm_draw(11, load_bounds(bounds_file)) == {"STRESS_CONNECTION": "long-lived"}


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[users]\ninserter = [3, 1]\n", "users", "above the highest"),
        ("[users]\ninserter = [0, 0]\n", "users", "at least 1"),
        ('[choices]\nconnection = ["sometimes"]\n', "choices", "not one of"),
        ("[rate]\nopen_loop = 2\nops_per_sec = [1, 2]\n", "rate.open_loop", "less than or equal"),
        ("[fautls]\nkill = 0.1\n", "fautls", "Extra inputs"),
        ("[users\n", "<file>", "not TOML"),
    ],
)
def test_a_bad_bounds_file_names_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    bounds_file = tmp_path / "bounds.toml"
    bounds_file.write_text(text)
    with pytest.raises(SwarmBoundsError) as caught:
        load_bounds(bounds_file)
    assert caught.value.key == key
    assert words in str(caught.value)
    assert str(bounds_file) in str(caught.value)
