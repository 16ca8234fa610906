"""``stress report SOAK_DIR``: the soak's own view above its run's sections.

- a real short soak with kill faults, run with ``stress soak --report`` and a thresholds file
  whose bulk-insert latency limit no soak can meet, writes a page with every soak section and
  run section in order, every plot an inline SVG with its marks, an epoch table row per epoch
  and a column per invariant, and nothing fetched;
- the threshold it broke is shown failed, with the measured value of soak.json and its limit,
  and the verdict says FAIL and names it;
- a threshold the soak was too short to measure is shown "not measured" on the page, on
  stdout and in the verdict line, and is a skipped case in junit.xml, never a pass;
- a soak folder with a broken ``soak.json`` or ``soak/samples.csv`` is refused in one line,
  exit 2, and no page is written;
- the samples read back are the ones written, and the fault clock's offset is bounded by the
  killed process's samples.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_report_page import external_references

from stress.cli.main import main
from stress.report.page import PLOTS, SECTIONS
from stress.report.soak import SOAK_PLOT_SECTIONS, SOAK_SECTIONS
from stress.report.soak_data import run_clock_offset_s
from stress.soak.invariants import INVARIANTS
from stress.soak.resources import ProcessSample, ResourceLog

_THRESHOLDS = """
[soft]
# A bulk insert (70% of an inserter's ops, so in every epoch) takes far above 1 us.
"p50_ms.bulk_insert" = 0.001
"p99_ms.single_insert" = 12000
# Needs three measured epochs after the warm-up: a 12-second soak of 4-second epochs has two.
"throughput_drop_pct" = 10
"""


@pytest.fixture(scope="module")
def soak_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(soak folder, page, printed): a 12-second soak with two kills, reported at its end."""
    work = tmp_path_factory.mktemp("soak-report")
    thresholds = work / "thresholds.toml"
    thresholds.write_text(_THRESHOLDS, encoding="utf-8")
    folder = work / "soak"
    printed = io.StringIO()
    code = main(
        [
            "soak", "--duration", "12", "--epoch", "4", "--seed", "5",
            "--output-dir", str(folder), "--users", "inserter=2,query=1",
            "--processes", "2", "--faults", "kill=every:5s", "--busy-timeout-ms", "1000",
            "--thresholds", str(thresholds), "--report",
        ],
        out=printed,
    )  # fmt: skip
    assert code == 1, printed.getvalue()[-3000:]  # the latency limit fails
    assert f"report: {folder / 'report.html'} (" in printed.getvalue()
    return folder, (folder / "report.html").read_text(encoding="utf-8"), printed.getvalue()


def _section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">')[1].split("</section>")[0]


def _threshold(folder: Path, metric: str) -> dict[str, Any]:
    """The soak's ``soak.json`` entry of the threshold on ``metric``."""
    soak = json.loads((folder / "soak.json").read_text())
    found: dict[str, Any] = next(t for t in soak["thresholds"] if t["metric"] == metric)
    return found


@pytest.mark.slow
def test_the_soak_page_has_every_section_and_plot(soak_page: tuple[Path, str, str]) -> None:
    folder, page, _ = soak_page
    soak = json.loads((folder / "soak.json").read_text())
    ids = re.findall(r'<section id="([^"]+)">', page)
    assert ids == [sid for sid, _ in SOAK_SECTIONS] + [sid for sid, _ in SECTIONS]
    plots = [*SOAK_PLOT_SECTIONS.items(), *((s, (p,)) for s, p in PLOTS.items())]
    for section, names in plots:
        body = _section(page, section)
        for name in names:
            drawn = body.split(f'<figure class="plot" data-plot="{name}">')[1]
            assert drawn.startswith("<svg"), name
            assert drawn.split("</svg>")[0].count("<path") > 10, f"{name}: an empty plot"
    processes = _section(page, "soak-processes")
    assert "worker killed" in processes and ">worker-0<" in processes
    epochs = _section(page, "soak-epochs")
    assert epochs.count("<tr>") == 1 + len(soak["epochs"]) >= 3
    for name in INVARIANTS:
        header = name.replace("_", "_\u200b")  # breakable after each underscore
        assert f"<th>{header}</th>" in epochs, name
    for epoch in soak["epochs"]:
        assert f"<td>{epoch['index']}</td><td>{epoch['start_s']:.1f}</td>" in epochs
    slopes = _section(page, "soak-slopes")
    for metric, fits in soak["slopes"].items():
        for fit in fits.values():
            assert f"<td class=l>{metric}</td>" in slopes
            assert f"[{fit['low']:.3f}, {fit['high']:.3f}]" in slopes
    assert "verification ok" in page  # the run's own verdict, below the soak's


@pytest.mark.slow
def test_the_soak_page_fetches_nothing(soak_page: tuple[Path, str, str]) -> None:
    _, page, _ = soak_page
    assert external_references(page) == []
    assert "<script" not in page and "<link" not in page


@pytest.mark.slow
def test_a_failed_threshold_shows_failed_with_its_measured_value(
    soak_page: tuple[Path, str, str],
) -> None:
    folder, page, printed = soak_page
    broken = _threshold(folder, "p50_ms.bulk_insert")
    assert not broken["ok"] and broken["value"] > 0.001
    thresholds = _section(page, "soak-thresholds")
    row = (
        f"<td class=l>p50_ms.bulk_insert</td><td>{broken['value']:g}</td><td>0.001</td>"
        "<td class=bad>FAIL</td>"
    )
    assert row in thresholds
    assert "<p class=bad>thresholds: 1 of 3 failed, 1 passed, 1 not measured" in thresholds
    verdict = _section(page, "soak-verdict")
    assert "soak FAIL" in verdict and "thresholds failed: p50_ms.bulk_insert" in verdict
    assert "soak FAIL" in printed


@pytest.mark.slow
def test_a_threshold_the_soak_could_not_measure_is_never_shown_as_passed(
    soak_page: tuple[Path, str, str],
) -> None:
    folder, page, printed = soak_page
    drop = _threshold(folder, "throughput_drop_pct")
    assert drop["value"] is None and drop["measured"] is False and drop["ok"] is True
    row = "<td class=l>throughput_drop_pct</td><td>not measured</td><td>10</td><td>not measured"
    assert row in _section(page, "soak-thresholds")
    assert "threshold throughput_drop_pct: not measured: not measured (" in printed
    assert "1 threshold(s) not measured (too short): throughput_drop_pct" in printed
    case = next(
        c for c in ET.parse(folder / "junit.xml").getroot().iter("testcase")
        if c.get("name") == "throughput_drop_pct"
    )  # fmt: skip
    skipped = case.find("skipped")
    assert skipped is not None and case.find("failure") is None
    assert "not measured" in (skipped.get("message") or "")


def _copy_soak(folder: Path, to: Path) -> Path:
    """The files a soak's report reads: soak.json, its samples and the run's summary."""
    (to / "soak").mkdir(parents=True)
    for name in ("soak.json", "summary.json", "soak/samples.csv"):
        shutil.copy(folder / name, to / name)
    return to


def _break_json(folder: Path) -> None:
    (folder / "soak.json").write_text("{not json", encoding="utf-8")


def _break_version(folder: Path) -> None:
    soak = json.loads((folder / "soak.json").read_text())
    (folder / "soak.json").write_text(json.dumps(soak | {"format_version": 9}))


def _break_schema(folder: Path) -> None:
    soak = json.loads((folder / "soak.json").read_text())
    del soak["epochs"]
    (folder / "soak.json").write_text(json.dumps(soak))


def _break_samples(folder: Path) -> None:
    (folder / "soak" / "samples.csv").write_text("t_s,process,pid\n1.0,worker-0,abc\n")


def _drop_samples(folder: Path) -> None:
    (folder / "soak" / "samples.csv").unlink()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_break_json, "soak.json: not readable JSON"),
        (_break_version, "soak.json: format_version 9, this stress reads 1"),
        (_break_schema, "soak.json: not a soak document (<root>: 'epochs' is a required"),
        (_break_samples, "samples.csv: not the soak's samples"),
        (_drop_samples, "samples.csv: missing; a soak writes it beside soak.json"),
    ],
)
def test_a_broken_soak_folder_is_one_line_exit_2_and_nothing_written(
    soak_page: tuple[Path, str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    said: str,
) -> None:
    folder = _copy_soak(soak_page[0], tmp_path / "soak")
    damage(folder)
    assert main(["report", str(folder)], out=io.StringIO()) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RunFolderError: ")
    assert said in lines[0], lines[0]
    assert not (folder / "report.html").exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_the_samples_read_back_are_the_ones_written(tmp_path: Path) -> None:
    log = ResourceLog(())
    for t, pid in ((0.0, 10), (1.0, 10), (2.0, 11)):
        log.samples.append(ProcessSample(t, "worker-0", pid, 50.5 + t, 12, 4))
        log.born.setdefault(pid, t)
    log.write_csv(tmp_path / "samples.csv")
    back = ResourceLog.read_csv(tmp_path / "samples.csv")
    assert back.samples == log.samples and back.born == log.born


def test_the_fault_clock_offset_is_bounded_by_the_killed_process_samples() -> None:
    log = ResourceLog(())
    # The soak's clock runs 2.4 s ahead of the run's: pid 10, killed at 5.0 on the run's
    # clock (7.4 on the soak's), is last seen at 7.0; the next sample is at 8.0.
    for t in range(10):
        log.samples.append(ProcessSample(float(t), "worker-0", 10 if t <= 7 else 11, 60, 9, 3))
        log.born.setdefault(10 if t <= 7 else 11, float(t))
    summary = {"faults": {"events": [{"kind": "kill", "t_s": 5.0, "pid": 10}]}}
    offset = run_clock_offset_s(summary, log)
    assert 2.0 < offset <= 3.0  # between 7.0 - 5.0 and 8.0 - 5.0
    assert offset == 2.5
    assert run_clock_offset_s({"faults": {"events": []}}, log) == 0.0
