"""``stress report SWEEP_DIR``: a real sweep's page has every section and plot, links each kept
run's own report, and fetches nothing.

The sweep is real and small: 6 swarm-drawn seeds (two users at most, 20 ops each), seed 3
also running a store mutant so one signature fails; its kept run gets its own report first.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import orjson
import pytest

from stress.cli.main import main
from stress.engine.interrupts import Interrupts
from stress.report.sweeppage import SWEEP_PLOTS, SWEEP_SECTIONS
from stress.sweep.driver import run_sweep
from stress.sweep.swarm import load_bounds, swarm_draw

# The sweep tests' helpers (small runs, a plan around them), from their folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
from sweep_helpers import small_plan

_REFERENCE = re.compile(r"""(?:\bsrc|\bhref)\s*=\s*["']([^"']*)["']|url\(\s*["']?([^"')]*)""")
_BOUNDS = """
[users]
inserter = [1, 2]
query = [0, 1]
[choices]
connection = ["per-op", "long-lived"]
[batch]
min = [1, 20]
max = [20, 60]
"""
PLANTED = 3


def references(page: str) -> list[str]:
    """Every src, href or url() of the page, but its own anchors (``#...``)."""
    matches = _REFERENCE.finditer(page)
    found = [m.group(1) if m.group(1) is not None else m.group(2) for m in matches]
    return [target for target in found if not target.startswith("#")]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sweep-report")
    bounds_file = work / "bounds.toml"
    bounds_file.write_text(_BOUNDS, encoding="utf-8")
    bounds = load_bounds(bounds_file)

    def draw_and_plant(seed: int) -> dict[str, str]:
        planted = {"STRESS_MUTANT": "drop-write:3"} if seed == PLANTED else {}
        return {**swarm_draw(seed, bounds), **planted}

    folder = work / "sweep"
    plan = small_plan(folder, range(0, 6), swarm=bounds_file)
    outcome = run_sweep(plan, io.StringIO(), Interrupts(), overrides=draw_and_plant)
    assert outcome.exit_code == 1
    assert main(["report", str(folder / "runs" / f"seed-{PLANTED}")], out=io.StringIO()) == 0
    return folder


@pytest.fixture(scope="module")
def sweep_page(sweep_dir: Path) -> str:
    printed = io.StringIO()
    assert main(["report", str(sweep_dir)], out=printed) == 0
    assert printed.getvalue().startswith(f"sweep report: {sweep_dir / 'report.html'} (")
    return (sweep_dir / "report.html").read_text(encoding="utf-8")


def _section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">')[1].split("</section>")[0]


@pytest.mark.slow
def test_the_sweep_page_has_every_section_and_every_plot(sweep_page: str) -> None:
    assert re.findall(r'<section id="([^"]+)">', sweep_page) == [sid for sid, _ in SWEEP_SECTIONS]
    for section, plot in SWEEP_PLOTS.items():
        body = _section(sweep_page, section)
        assert f'<figure class="plot" data-plot="{plot}"><svg' in body, plot
        assert body.count("<path") > 10, f"{plot}: an empty plot"
    assert "6 runs, 1 failing, 1 signatures" in _section(sweep_page, "sweep")
    outcomes = _section(sweep_page, "outcomes")
    assert "<td class=l>pass</td><td>5</td>" in outcomes
    assert "<td class=l>fail</td><td>1</td>" in outcomes
    swarm = _section(sweep_page, "swarm")
    for feature in ("users.inserter", "users.query", "connection", "batch_min", "mutant"):
        assert f"<td class=l>{feature}</td>" in swarm, feature


@pytest.mark.slow
def test_failures_are_grouped_with_first_and_fastest_seed_and_link_the_runs_report(
    sweep_dir: Path, sweep_page: str
) -> None:
    (group,) = orjson.loads((sweep_dir / "sweep.json").read_bytes())["failures"]
    failures = _section(sweep_page, "failures")
    row = (
        f"<td class=l>{group['signature']}</td><td>1</td><td>{PLANTED}</td><td>{PLANTED}</td>"
    )
    assert row in failures
    assert f'<a href="runs/seed-{PLANTED}/report.html">report.html</a>' in failures
    assert f"stress replay {sweep_dir}/runs/seed-{PLANTED}/replay.json" in failures


@pytest.mark.slow
def test_the_sweep_page_fetches_nothing_and_its_links_stay_in_the_folder(
    sweep_dir: Path, sweep_page: str, tmp_path: Path
) -> None:
    assert "<script" not in sweep_page and "<link" not in sweep_page
    links = references(sweep_page)
    assert links == [f"runs/seed-{PLANTED}/report.html"]
    for link in links:
        assert (sweep_dir / link).is_file() and "//" not in link and ":" not in link
    # A page written elsewhere links the same files, from where it is.
    other = tmp_path / "elsewhere" / "sweep.html"
    other.parent.mkdir()
    assert main(["report", str(sweep_dir), "-o", str(other)], out=io.StringIO()) == 0
    (link,) = references(other.read_text(encoding="utf-8"))
    assert (other.parent / link).resolve() == sweep_dir / "runs" / f"seed-{PLANTED}" / "report.html"


def test_an_older_sweeps_lines_still_get_a_page(tmp_path: Path) -> None:
    """Lines written before ``worker``, ``started_at`` and ``overrides`` existed, and a last
    line cut short by a kill (read, not trimmed: a report writes nothing but its page)."""
    folder = tmp_path / "sweep"
    folder.mkdir()
    plan = {"duration_s": 1.0, "max_ops_per_user": 20, "timeout_s": 90.0, "swarm": None,
            "base_env": {"STRESS_DATABASES": "1"}}
    record = {"format_version": 1, "status": "finished", "seeds": "0:2", "scheduler": "local",
              "workers": 2, "plan": plan, "runs": 2, "failed": 1, "failures": []}
    (folder / "sweep.json").write_bytes(orjson.dumps(record))
    line = {"seed": 0, "config_digest": "0" * 12, "outcome": "pass", "exit_code": 0,
            "signature": None, "stop_reason": "OpLimitReached", "seconds": 2.5, "ops": 40,
            "run_dir": None, "host": "here", "detail": None}
    failed = {**line, "seed": 1, "outcome": "timeout", "exit_code": None,
              "signature": "aaaaaaaaaaaa", "seconds": 90.2, "detail": "no exit within 90 s"}
    cut = b'{"seed": 2, "config_di'
    ndjson = b"\n".join([orjson.dumps(line), orjson.dumps(failed), cut])
    (folder / "sweep.ndjson").write_bytes(ndjson)
    assert main(["report", str(folder)], out=io.StringIO()) == 0
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "2 runs, 1 failing, 1 signatures" in page
    assert "<td class=l>(not recorded)</td><td>2</td><td>1</td>" in page
    assert "No swarm: every run had the base configuration." in page
    assert "<td class=l>aaaaaaaaaaaa</td><td>1</td><td>1</td><td>1</td>" in page
    assert page.count('<figure class="plot"') == len(SWEEP_PLOTS)
    assert (folder / "sweep.ndjson").read_bytes() == ndjson


def test_a_broken_sweep_record_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sweep.json").write_text("{not json", encoding="utf-8")
    assert main(["report", str(tmp_path)], out=io.StringIO()) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("RunFolderError:") and "sweep.json" in line
    assert not (tmp_path / "report.html").exists()
