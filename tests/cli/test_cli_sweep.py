"""``stress sweep`` on bad input: one line, exit 2, nothing written; and without Dask."""

from __future__ import annotations

import io
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from stress.cli.main import main

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["--seeds", "0"], {}, "--seeds=0: must be a whole number of seeds"),
        (["--seed-range", "9:3"], {}, "--seed-range=9:3: must be A:B"),
        (["--seeds", "3", "--seed-range", "0:3"], {}, "not both"),
        ([], {}, "give --seeds N or --seed-range A:B"),
        (["--seeds", "3", "--per-run", "-1"], {}, "--per-run=-1: must be a duration"),
        (["--seeds", "3", "--workers", "0"], {}, "--workers=0: must be a whole number"),
        (["--seeds", "3", "--scheduler", "localhost"], {}, "must be tcp://HOST:PORT"),
        (["--seeds", "3", "--resume"], {}, "--resume=set: name the sweep to resume"),
        (["--seeds", "3"], {"STRESS_SEED": "4"}, "STRESS_SEED=4: the sweep sets each run's seed"),
        (["--seeds", "3"], {"STRESS_DURATON": "4"}, "did you mean STRESS_DURATION?"),
        (["--seeds", "3", "--swarm", "/nonexistent.toml"], {}, "cannot be read"),
        (
            ["--seeds", "3"],
            {"STRESS_FAULTS": "kill=every:1s"},
            "kill needs worker processes",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    words: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "sweep"
    if "--resume" not in argv:
        argv = [*argv, "--output-dir", str(folder)]
    assert main(["sweep", *argv], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert words in err
    assert list(tmp_path.iterdir()) == []


def test_the_help_lists_the_flags_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    printed = capsys.readouterr().out
    for word in ("--seeds", "--seed-range", "--per-run", "--scheduler", "--swarm", "--resume",
                 "130"):
        assert word in printed


def _without_dask(farm: Path) -> dict[str, str]:
    """An import path of this environment's packages less dask and distributed, as links."""
    farm.mkdir()
    for folder in site.getsitepackages():
        for entry in Path(folder).iterdir():
            name = entry.name.lower()
            if name.startswith(("dask", "distributed")) or (farm / entry.name).exists():
                continue
            (farm / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{farm}"
    return env


@pytest.mark.slow
def test_without_dask_a_sweep_says_what_to_install(tmp_path: Path) -> None:
    """An interpreter that cannot find Dask: no site-packages (-S), all but Dask linked in."""
    env = _without_dask(tmp_path / "packages")
    probe = [sys.executable, "-S", "-c", "import distributed"]
    assert subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 1
    done = subprocess.run(
        [sys.executable, "-S", "-m", "stress", "sweep", "--seeds", "2"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "DaskMissingError: stress sweep needs Dask (distributed is not installed): "
        "pip install 'stress[sweep]' (or pip install 'dask[distributed]')"
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["packages"]


@pytest.mark.slow
def test_a_scheduler_that_is_not_there_is_one_line_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sweep"
    argv = ["sweep", "--seeds", "2", "--scheduler", "tcp://127.0.0.1:9", "--output-dir",
            str(folder)]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("SchedulerError: --scheduler=tcp://127.0.0.1:9: cannot connect")
    assert len(err.splitlines()) == 1
    assert not folder.exists()
