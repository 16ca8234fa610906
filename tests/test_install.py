"""The package installs like one: a wheel, in a fresh environment, run outside the checkout.

The wheel is built from the repository, installed (not editable) into a new virtual
environment under ``tmp_path``, and the console script runs from a folder that is not the
checkout, so nothing can be found through the repository by accident. The new environment
reaches the already installed dependencies through a ``.pth`` file naming this environment's
site-packages (``.pth`` lines there are plain paths, so the checkout's editable hook is not
loaded); the wheel itself goes in with ``--no-index``. That keeps the test offline and fast.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the new environment prints about the installed package: where it lives and its data.
_INSPECT = """
import json, stress
from importlib import resources
package = resources.files("stress")
print(json.dumps({
    "file": stress.__file__,
    "schemas": {p.name: p.read_text() for p in package.joinpath("schemas").iterdir()
                if p.name.endswith(".json")},
    "profiles": {p.name: p.read_text() for p in package.joinpath("profiles").iterdir()},
}))
"""


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stderr}{done.stdout}"
    return done.stdout


def _build_wheel(dist: Path) -> Path:
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            "--quiet",
        ],
        cwd=dist,
    )
    (wheel,) = dist.glob("stress-*.whl")
    return wheel


def _fresh_environment(home: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed; returns its ``bin`` folder."""
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=home
    ).strip()
    Path(purelib, "_stress_test_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        cwd=home,
    )
    return home / "bin"


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_runs_with_its_built_in_profiles(
    tmp_path: Path,
) -> None:
    dist, elsewhere = tmp_path / "dist", tmp_path / "elsewhere"
    dist.mkdir()
    elsewhere.mkdir()
    bin_dir = _fresh_environment(tmp_path / "env", _build_wheel(dist))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRESS_")}
    env.pop("PYTHONPATH", None)

    installed = json.loads(_run([str(bin_dir / "python"), "-c", _INSPECT], elsewhere, env))
    assert Path(installed["file"]).is_relative_to(tmp_path / "env")
    assert installed["profiles"] == {
        p.name: p.read_text(encoding="utf-8") for p in (ROOT / "profiles").glob("*.toml")
    }
    assert set(installed["schemas"]) == {
        "replay.schema.json",
        "soak.schema.json",
        "summary.schema.json",
    }

    listed = _run([str(bin_dir / "stress"), "profiles"], elsewhere, env)
    assert [line.split()[0] for line in listed.splitlines()] == ["inserter", "mixed", "query"]

    printed = _run([str(bin_dir / "stress"), "run", "--duration", "1"], elsewhere, env)
    (run_dir,) = (elsewhere / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["stop_reason"] == "DurationElapsed"
    assert summary["results"]["total_operations"] > 0
    assert (run_dir / "replay.json").is_file()
    assert "verification ok" in printed
