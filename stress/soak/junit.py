"""``junit.xml`` of a soak: one testcase per invariant and per threshold, for CI to publish.

The shape CI tools read (``testsuites/testsuite/testcase/failure``): an invariant fails if it
failed at any epoch (its failure text names the epoch), a threshold if its measured value
broke the limit; every failure text ends with the command that replays the run. A threshold
the soak could not measure (too short) is ``skipped``, so CI shows it as not checked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Case", "write_junit"]


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    #: None: passed; else the failure's text (measured vs limit).
    failure: str | None
    time_s: float = 0.0
    #: Not checked, and why (a threshold the soak could not measure); None: it ran.
    skipped: str | None = None


def write_junit(path: Path, suite: str, cases: Sequence[Case], replay_command: str) -> None:
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(case.failure is not None for case in cases)),
        "skipped": str(sum(case.skipped is not None for case in cases)),
    }
    root = ET.Element("testsuites", {"name": "stress soak", **counts})
    element = ET.SubElement(root, "testsuite", {"name": suite, "errors": "0", **counts})
    for case in cases:
        node = ET.SubElement(
            element, "testcase", classname=case.classname, name=case.name, time=f"{case.time_s:.3f}"
        )
        if case.skipped is not None:
            ET.SubElement(node, "skipped", message=case.skipped)
        if case.failure is not None:
            failure = ET.SubElement(node, "failure", message=case.failure, type=case.classname)
            failure.text = f"{case.failure}\nreplay: {replay_command}"
    tmp = path.with_suffix(".xml.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
