"""``stress report``: the page of a real run has every section and plot and fetches nothing.

- every section of :data:`SECTIONS` and every plot of :data:`PLOTS` (an inline SVG) is there,
  with each op of the run in the results table;
- no ``src``, ``href`` or CSS ``url()`` points anywhere but inside the page (the check is
  shown to catch a planted external image);
- without matplotlib (a real environment that lacks it), one line says what to install, exit
  2, and nothing is written; ``stress run --report`` is refused before the run;
- ``stress run --report`` writes the page at the end of a run.
"""

from __future__ import annotations

import io
import os
import re
import site
import subprocess
import venv
from pathlib import Path

import pytest

from stress.cli.main import main
from stress.engine.runner import RunOutcome
from stress.report.page import PLOTS, SECTIONS

ROOT = Path(__file__).resolve().parents[2]
_REFERENCE = re.compile(r"""(?:\bsrc|\bhref)\s*=\s*["']([^"']*)["']|url\(\s*["']?([^"')]*)""")


def external_references(page: str) -> list[str]:
    """Every src, href or url() that points outside the page (not ``#...`` nor ``data:``)."""
    found = []
    for match in _REFERENCE.finditer(page):
        target = match.group(1) if match.group(1) is not None else match.group(2)
        if not (target.startswith("#") or target.startswith("data:")):
            found.append(target)
    return found


@pytest.fixture(scope="module")
def report_page(process_run: RunOutcome, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    printed = io.StringIO()
    assert main(["report", str(process_run.run_dir), "-o", str(out)], out=printed) == 0
    assert f"report: {out} (" in printed.getvalue()
    return out.read_text(encoding="utf-8")


def test_the_page_has_every_section_and_every_plot(
    report_page: str, process_run: RunOutcome
) -> None:
    ids = re.findall(r'<section id="([^"]+)">', report_page)
    assert ids == [sid for sid, _ in SECTIONS]
    for section, plot in PLOTS.items():
        body = report_page.split(f'<section id="{section}">')[1].split("</section>")[0]
        assert f'<figure class="plot" data-plot="{plot}"><svg' in body, plot
        assert body.count("<path") > 10, f"{plot}: an empty plot"
    results = report_page.split('<section id="results">')[1].split("</section>")[0]
    ops = process_run.summary["results"]["latency_by_op"]
    for op, figures in ops.items():
        assert f"<td class=l>{op}</td><td>{figures['count']}</td>" in results
    curves = report_page.split('<section id="percentiles">')[1]
    assert all(f">{op}<" in curves for op in ops), "an op without its percentile curve"
    assert "verification ok" in report_page


def test_the_page_fetches_nothing(report_page: str) -> None:
    assert external_references(report_page) == []
    assert "<script" not in report_page and "<link" not in report_page
    planted = report_page.replace("</body>", '<img src="https://example.com/x.png"></body>')
    assert external_references(planted) == ["https://example.com/x.png"]


def _environment_without_matplotlib(home: Path) -> Path:
    """A fresh venv that sees this one's packages, matplotlib left out, and the checkout."""
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = home / "deps"
    deps.mkdir()
    for packages in map(Path, site.getsitepackages()):
        for entry in packages.iterdir():
            hidden = entry.name.startswith(("matplotlib", "mpl_toolkits", "pylab"))
            if not hidden and not entry.name.endswith(".pth") and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    Path(purelib, "_deps.pth").write_text(f"{deps}\n{ROOT}\n", encoding="utf-8")
    return python


@pytest.mark.slow
def test_without_matplotlib_one_line_says_what_to_install(
    tmp_path: Path, process_run: RunOutcome
) -> None:
    python = _environment_without_matplotlib(tmp_path / "env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRESS_", "PYTHONPATH"))}
    absent = subprocess.run(
        [str(python), "-c", "import matplotlib"], capture_output=True, text=True, env=env
    )
    assert absent.returncode == 1 and "No module named 'matplotlib'" in absent.stderr
    out = tmp_path / "report.html"
    done = subprocess.run(
        [str(python), "-m", "stress", "report", str(process_run.run_dir), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "ReportNeedsExtraError: stress report needs matplotlib, which is not installed: "
        "pip install 'stress[report]' (or: pip install matplotlib)"
    ]
    assert not out.exists()
    run_dir = tmp_path / "run"
    refused = subprocess.run(
        [str(python), "-m", "stress", "run", "--max-ops-per-user", "5", "--report"],
        capture_output=True,
        text=True,
        env={**env, "STRESS_OUTPUT_DIR": str(run_dir)},
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert "pip install 'stress[report]'" in refused.stderr
    assert not run_dir.exists(), "the run went ahead without its report"


@pytest.mark.slow
def test_run_with_report_writes_the_page_at_the_end(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    printed = io.StringIO()
    code = main(
        [
            "run",
            "--users",
            "inserter=1,query=1",
            "--databases",
            "1",
            "--max-ops-per-user",
            "15",
            "--think-min-ms",
            "0",
            "--think-max-ms",
            "1",
            "--batch-min",
            "1",
            "--batch-max",
            "20",
            "--log-interval",
            "0.2",
            "--output-dir",
            str(run_dir),
            "--report",
        ],
        out=printed,
    )
    assert code == 0, printed.getvalue()
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('<figure class="plot"') == len(PLOTS)
    assert f"report: {run_dir / 'report.html'} (" in printed.getvalue()
