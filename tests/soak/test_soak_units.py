"""The soak's parts on their own: slopes, thresholds, JUnit, history (no run, no real time)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from stress.cli.main import main
from stress.soak.history import Regression, append_history, compare, read_history
from stress.soak.junit import Case, write_junit
from stress.soak.resources import ProcessSample, ResourceLog
from stress.soak.slopes import pooled_slope, slope
from stress.soak.thresholds import Limit, ThresholdError, load_thresholds


def _series(mb_per_h: float, noise_mb: float, seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    times = [60.0 * i for i in range(60)]  # one hour, a sample a minute
    values = [200 + mb_per_h * t / 3600 + float(rng.normal(0, noise_mb)) for t in times]
    return times, values


def test_a_planted_30_mb_per_h_leak_is_flagged_and_a_flat_series_is_not() -> None:
    # The limit a soak of long-lived processes sets (no kill faults): 20 MB/h.
    limit = Limit("rss_slope_mb_per_h", 20, hard=False)
    leak = slope(*_series(30, 2.0, 1))
    flat = slope(*_series(0, 2.0, 2))
    assert leak is not None and flat is not None
    assert 25 < leak.per_h < 35 and leak.significant
    assert not limit.passes(leak.low)  # surely above 20 MB/h
    assert limit.passes(flat.low) and not flat.significant


def test_a_restart_neither_hides_nor_fakes_a_leak() -> None:
    # Three lifetimes, each leaking 30 MB/h from its own fresh start: one slope of ~30.
    segments = [
        [(t, 100 + 30 * (t - s) / 3600) for t in range(s, s + 1200, 60)] for s in (0, 1200, 2400)
    ]
    fitted = pooled_slope(segments)
    assert fitted is not None and abs(fitted.per_h - 30) < 1e-6
    # A naive fit over the sawtooth would see almost nothing.
    naive = slope([t for seg in segments for t, _ in seg], [y for seg in segments for _, y in seg])
    assert naive is not None and naive.per_h < 5


def test_too_few_points_give_no_slope() -> None:
    assert slope([0.0, 1.0], [1.0, 2.0]) is None


def test_the_default_thresholds_load_and_name_known_metrics() -> None:
    thresholds = load_thresholds()
    assert thresholds.soft["rss_slope_mb_per_h"].limit == 1000
    assert thresholds.soft["p50_ms.single_insert"].limit == 250
    assert set(thresholds.hard) == {
        "event_pending_max_s",
        "recovery_max_s",
        "wal_after_checkpoint_mb",
    }


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[soft\nx = 1", "not valid TOML"),
        ("[soft]\nrss_slope_mb_per_hour = 20\n", "unknown metric"),
        ('[soft]\n"p99_ms.teleport" = 5\n', "unknown metric"),
        ('[soft]\nwal_high_water_mb = "big"\n', "must be a number"),
        ("[limits]\nx = 1\n", "unknown section"),
        ("[history]\nnights = 0\n", "whole number"),
    ],
)
def test_a_bad_thresholds_file_is_one_line_and_exit_2(
    tmp_path: Path, text: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ThresholdError, match=said):
        load_thresholds(path)
    out = tmp_path / "run"
    code = main(["soak", "--thresholds", str(path), "--output-dir", str(out), "--duration", "5"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and said in err
    assert "Traceback" not in err and not out.exists()


def test_a_file_with_only_soft_limits_keeps_the_default_hard_bounds(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[soft]\n"p50_ms.bulk_insert" = 900\n')
    thresholds = load_thresholds(path)
    assert list(thresholds.soft) == ["p50_ms.bulk_insert"]
    assert thresholds.bound("recovery_max_s") == 60


def test_junit_has_the_shape_ci_tools_read(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    cases = [
        Case("soak.invariant", "no_loss", None),
        Case("soak.threshold", "wal_high_water_mb", "70 >= limit 64"),
        Case("soak.threshold", "throughput_drop_pct", None, skipped="not measured (1 epoch)"),
    ]
    write_junit(path, "soak x", cases, "stress replay x/replay.json")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("skipped") == "1"
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("tests") == "3" and suites[0].get("failures") == "1"
    assert suites[0].get("skipped") == "1"
    testcases = suites[0].findall("testcase")
    assert [c.get("name") for c in testcases] == [
        "no_loss",
        "wal_high_water_mb",
        "throughput_drop_pct",
    ]
    assert testcases[0].find("failure") is None and testcases[0].find("skipped") is None
    skipped = testcases[2].find("skipped")
    assert skipped is not None and skipped.get("message") == "not measured (1 epoch)"
    assert testcases[2].find("failure") is None
    failure = testcases[1].find("failure")
    assert failure is not None and "70 >= limit 64" in (failure.text or "")
    assert "stress replay x/replay.json" in (failure.text or "")


def _night(digest: str, throughput: float, p99: float) -> dict[str, object]:
    return {
        "settings_digest": digest,
        "metrics": {"throughput_ops_per_s": throughput, "p99_ms_max": p99},
    }


def test_history_compares_with_the_median_of_the_last_nights_of_the_same_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.ndjson"
    for throughput in (100.0, 102.0, 98.0):
        append_history(path, _night("a", throughput, 10.0))
    append_history(path, _night("b", 1.0, 1000.0))  # other settings: never compared
    with path.open("a") as handle:
        handle.write('{"torn": ')  # a writer killed mid-line
    past = read_history(path)
    assert len(past) == 4
    found = {r.metric: r for r in compare(_night("a", 70.0, 10.5), past, 5, 20)}
    assert found["throughput_ops_per_s"].baseline == 100.0
    assert not found["throughput_ops_per_s"].ok  # 30% fewer ops/s
    assert found["p99_ms_max"].ok  # 5% slower: within 20%
    assert "70.000 tonight vs 100.000" in found["throughput_ops_per_s"].line()
    assert compare(_night("c", 1.0, 1.0), past, 5, 20) == []


def test_a_regression_within_the_limit_passes() -> None:
    assert Regression("m", 11, 10, 10.0, 20).ok and not Regression("m", 13, 10, 30.0, 20).ok
    assert json.dumps(Regression("m", 1, 1, 0, 20).__dict__)


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> list[float]:
    noise, level = [], 0.0
    for _ in range(n):
        level = rho * level + float(rng.normal(0, sd))
        noise.append(level)
    return noise


def test_correlated_noise_is_not_a_leak_and_a_leak_in_it_still_is() -> None:
    # One sample a second for 10 minutes; memory noise that lingers (AR(1), rho 0.9).
    times = [float(t) for t in range(600)]
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        fitted = slope(times, [100 + e for e in _ar1(rng, 600, 0.9, 1.0)])
        assert fitted is not None
        flagged += fitted.low > 20
    assert flagged <= 2  # about the 2.5% a one-sided 95% bound allows, not most of them
    rng = np.random.default_rng(np.random.SeedSequence(99))
    noise = _ar1(rng, 600, 0.9, 1.0)
    leak = slope(times, [100 + 700 * t / 3600 + e for t, e in zip(times, noise, strict=True)])
    assert leak is not None and leak.low > 20


def _lifetimes(rng: np.random.Generator, leak_mb_per_h: float) -> ResourceLog:
    """Two workers for 10 minutes, one of them killed every 30 s: each life climbs to its
    working size over its first 25 s, then stays (plus noise and the leak)."""
    log = ResourceLog(())
    pid, born = 100, {0: 0.0, 1: 0.0}
    pids = {0: pid, 1: pid + 1}
    for t in range(600):
        if t and t % 30 == 0:  # a kill; the worker is back 5 s later
            victim = int(rng.integers(2))
            pid += 2
            pids[victim], born[victim] = pid, t + 5.0
        for worker in (0, 1):
            age = t - born[worker]
            if age < 0:
                continue
            rss = 20 + 80 * min(age / 25, 1.0) + leak_mb_per_h * age / 3600
            rss += float(rng.normal(0, 2.0))
            log.born.setdefault(pids[worker], float(t))
            log.samples.append(
                ProcessSample(float(t), f"worker-{worker}", pids[worker], rss, 30, 5)
            )
    return log


def test_rss_slopes_work_with_a_kill_every_30_s() -> None:
    limit = load_thresholds().soft["rss_slope_mb_per_h"]
    for seed in range(5):
        healthy = _lifetimes(np.random.default_rng(np.random.SeedSequence(seed)), 0.0)
        fits = healthy.slopes(60.0, lambda s: s.rss_mb)
        assert fits and all(limit.passes(fit.low) for fit in fits.values()), fits
        # 256 KB kept per call at ~6 calls/s: ~5 GB/h (`--mutant hold-memory:256`).
        leaky = _lifetimes(np.random.default_rng(np.random.SeedSequence(seed)), 3000.0)
        fits = leaky.slopes(60.0, lambda s: s.rss_mb)
        assert any(not limit.passes(fit.low) for fit in fits.values()), fits
        assert all(fit.points >= 60 for fit in fits.values())  # enough samples past warm-up


def test_short_lifetimes_give_no_slope_rather_than_a_guess() -> None:
    log = ResourceLog(())
    for life in range(3):  # three lives of 45 s: 15 samples each past the 30 s warm-up
        pid, start = 200 + life, 45.0 * life
        log.born[pid] = start
        for age in range(45):
            rss = 20 + 3 * age  # still climbing: a leak or the end of the warm-up, who knows
            log.samples.append(ProcessSample(start + age, "worker-0", pid, rss, 30, 5))
    assert log.slopes(0.0, lambda s: s.rss_mb) == {}
