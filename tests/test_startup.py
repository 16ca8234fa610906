"""Start-up stays light: the command line and the start of a run import only what they use.

A timing would be flaky on a shared machine; what a fresh interpreter has imported is not. The
heavy dependencies (numpy, pydantic, psutil, hdrh, jsonschema, multiprocess) take most of a
cold start, so ``stress --help`` must load none of them, and ``stress run`` none but the
settings model's pydantic before it prints its first line. To see the times themselves:
``python -X importtime -c "import stress.cli.main"`` or ``/usr/bin/time -f %e stress --help``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import stress
import stress.metadb
from stress.cli.main import main

PACKAGE = Path(__file__).resolve().parent.parent / "stress"
HEAVY = ("numpy", "pydantic", "pydantic_settings", "psutil", "hdrh", "jsonschema", "multiprocess")


def _heavy_modules_after(statement: str) -> list[str]:
    """The heavy dependencies a fresh interpreter has loaded after ``statement``."""
    probe = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))  # after whatever the code printed
    return [name for name in HEAVY if name in loaded]


def test_the_command_line_imports_none_of_the_heavy_dependencies() -> None:
    assert _heavy_modules_after("import stress.cli.main") == []


def test_help_builds_the_parser_without_the_library() -> None:
    statement = (
        "from stress.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert _heavy_modules_after(statement) == []


def test_a_run_reaches_its_first_line_with_the_settings_model_only() -> None:
    """What ``stress run`` imports before it announces the run: no numpy, store or workers."""
    loaded = _heavy_modules_after("import stress.cli.main, stress.engine.runner")
    assert loaded == ["pydantic", "pydantic_settings"]


def test_every_command_is_listed_and_a_chosen_one_gets_its_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv, expected in (
        (
            ["--help"],
            ["run", "replay", "profiles", "settings", "verify", "spool", "bench", "shrink", "keep"],
        ),
        (["run", "--help"], ["--duration", "--profile-dir", "--faults"]),
        (["bench", "--help"], ["writers", "overhead", "monitor"]),
        (["spool", "--help"], ["--home", "--engine"]),
    ):
        with pytest.raises(SystemExit) as leaving:
            main(argv)
        assert leaving.value.code == 0
        printed = capsys.readouterr().out
        assert all(word in printed for word in expected), (argv, printed)


def _type_checking_names(module: ModuleType) -> dict[str, str]:
    """name -> module, from the ``if typing.TYPE_CHECKING:`` imports of a package's ``__init__``."""
    path = Path(module.__file__ or "")
    names: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "typing.TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                names.update((alias.name, statement.module) for alias in statement.names)
    return names


@pytest.mark.parametrize("package", [stress, stress.metadb], ids=["stress", "stress.metadb"])
def test_the_lazy_names_are_the_public_api_the_type_checker_sees(package: ModuleType) -> None:
    sources: dict[str, str] = vars(package)["_SOURCES"]
    assert _type_checking_names(package) == sources
    assert set(sources) == set(package.__all__)
    for name, module in sources.items():
        assert getattr(package, name) is getattr(sys.modules[module], name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = package.nope
