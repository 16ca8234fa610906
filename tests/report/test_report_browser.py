"""The report in a real browser: headless Chromium loads it offline, without a console message
or a request of the page's own, and its screenshot is not blank.

Each check is first shown to fail on a planted page (a console error, an external image, a
blank page), so it can fail. Chromium is Debian's ``chromium`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from stress.cli.main import main
from stress.engine.runner import RunOutcome

pytestmark = pytest.mark.slow

_CHROMIUM = shutil.which("chromium")


@dataclass(frozen=True)
class Render:
    console: list[str]
    requests: list[str]
    ink: float
    """Share of the screenshot's pixels that are not white."""


def render(page: Path, work: Path) -> Render:
    """Load ``page`` once (offline: every host name fails) with logs, net log and screenshot."""
    assert _CHROMIUM is not None
    net, shot = work / f"{page.stem}.net.json", work / f"{page.stem}.png"
    done = subprocess.run(
        [
            _CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={net}",
            "--window-size=1200,3000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    log = json.loads(net.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # The browser's own background requests are not the page's: those have a file:// key.
    requests = [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start
        and str(event["params"].get("network_isolation_key", "")).startswith("file://")
        and not str(event["params"].get("url", "")).startswith("file:")
    ]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[:, :, :3]
    ink = float((pixels.min(axis=2) < 0.95).mean())
    return Render(console, requests, ink)


@pytest.mark.skipif(
    _CHROMIUM is None, reason="no chromium (apt-get install chromium; .ci/run does)"
)
def test_the_report_renders_offline_without_errors_and_is_not_blank(
    process_run: RunOutcome, tmp_path: Path
) -> None:
    planted = tmp_path / "planted.html"
    planted.write_text(
        '<!DOCTYPE html><p>x</p><img src="http://example.com/x.png">'
        '<script>console.error("planted")</script>',
        encoding="utf-8",
    )
    caught = render(planted, tmp_path)
    assert any('"planted"' in line for line in caught.console)
    assert caught.requests == ["http://example.com/x.png"]
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><body></body>", encoding="utf-8")
    assert render(blank, tmp_path).ink < 0.001

    page = tmp_path / "report.html"
    assert main(["report", str(process_run.run_dir), "-o", str(page)], out=io.StringIO()) == 0
    seen = render(page, tmp_path)
    assert seen.console == []
    assert seen.requests == []
    assert seen.ink > 0.03, f"only {seen.ink:.2%} of the screenshot is not white"
