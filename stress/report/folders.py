"""``stress report PATH``: which view a folder gets, and writing it.

Each kind of folder has its own page: a sweep's (``sweep.json``) shows its runs, a soak's
(``soak.json``) its epochs above its run's sections, a run's (``summary.json``) the run.
:data:`VIEWS` is looked at in order, the first kind that recognises the folder wins; a run's
view comes last, since its check also takes a ``summary.json`` path (a soak's folder holds one
too). A new kind is a new entry above the run's: a recogniser and a writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPORT_NAME", "VIEWS", "View", "view_of", "write_view"]

#: The page's name when ``-o`` does not say: inside the folder it shows.
REPORT_NAME = "report.html"


@dataclass(frozen=True)
class View:
    """One kind of folder's page."""

    kind: str
    #: Whether a path is this kind's folder.
    recognises: Callable[[Path], bool]
    #: Read the path and write its page to the given file; returns the page's bytes.
    write: Callable[[Path, Path], int]
    #: The folder whose page this is (a summary.json path's folder is its run's).
    folder: Callable[[Path], Path]


def _write_sweep(path: Path, out: Path) -> int:
    from stress.report.sweepdata import load_sweep
    from stress.report.sweeppage import write_sweep_report

    return write_sweep_report(load_sweep(path), out)


def _is_sweep(path: Path) -> bool:
    from stress.report.sweepdata import is_sweep_folder

    return is_sweep_folder(path)


def _is_soak(path: Path) -> bool:
    from stress.report.soak_data import is_soak_folder

    return is_soak_folder(path)


def _write_soak(path: Path, out: Path) -> int:
    from stress.report.soak import write_soak_report
    from stress.report.soak_data import load_soak

    return write_soak_report(load_soak(path), out)


def _write_run(path: Path, out: Path) -> int:
    from stress.report.data import load_run
    from stress.report.page import write_report

    return write_report(load_run(path), out)


VIEWS = (
    View("sweep", _is_sweep, _write_sweep, lambda path: path),
    View("soak", _is_soak, _write_soak, lambda path: path),
    View("run", lambda path: True, _write_run, lambda p: p if p.is_dir() else p.parent),
)


def view_of(path: Path) -> View:
    """The first view that recognises ``path`` (a run's, failing all others)."""
    return next(view for view in VIEWS if view.recognises(path))


def write_view(path: Path, output: Path | None) -> tuple[View, Path, int]:
    """Write ``path``'s page to ``output`` (default: ``REPORT_NAME`` in its folder)."""
    view = view_of(path)
    target = output if output is not None else view.folder(path) / REPORT_NAME
    return view, target, view.write(path, target)
