"""What people look at after a run: ``stress report`` (one HTML file) and ``stress compare``.

:mod:`stress.report.data` reads a run folder (``summary.json`` and the per-interval HDR logs of
:mod:`stress.observe.hlog`) into plain series; :mod:`stress.report.plots` draws them with
matplotlib (the optional extra ``stress[report]``, imported only here); :mod:`stress.report.page`
writes the self-contained page; :mod:`stress.report.compare` sets two runs side by side.
"""
