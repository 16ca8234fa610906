"""HdrHistogram interval logs (``.hlog``): one file per epoch, readable by HdrHistogram's tools.

Each op's histogram of the interval is one tagged line (``Tag=single_insert``), values in
microseconds (so ``max_value_unit_ratio`` is 1000 for milliseconds in the tools' output).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hdrh.log import HistogramLogWriter

__all__ = ["write_hlog"]


def write_hlog(path: Path, histograms: Mapping[str, Any], start_s: float, end_s: float) -> None:
    """Write one interval per tag (an op's name) covering ``start_s``..``end_s`` (epoch s)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        writer = HistogramLogWriter(handle)
        writer.output_log_format_version()
        # The library's own output_start_time is broken (hdrhistogram 0.10), so the line is
        # written here in the format the log readers expect.
        handle.write(f"#[StartTime: {start_s:.3f} (seconds since epoch)]\n")
        writer.output_legend()
        for tag, hist in sorted(histograms.items()):
            hist.set_tag(tag)
            writer.output_interval_histogram(hist, start_s, end_s, 1000.0)
