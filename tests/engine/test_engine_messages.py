"""Worker messages cross the real pipe a worker process reports through, whole and typed."""

from __future__ import annotations

import dataclasses

import multiprocess
import pytest

from stress.engine.messages import Crashed, Done, Ready, Stats, WorkerMessage
from stress.engine.users import UserProgress, UserResult
from stress.engine.worker import PipeReports
from stress.observe.stats import StatsAggregator, StatsRecorder, StatsReport


def _report() -> StatsReport:
    recorder = StatsRecorder()
    recorder.record_op("inserter", "bulk_insert", 4_000, ok=True, rows_inserted=500)
    recorder.record_error("inserter", "bulk_insert", "busy", "database is locked")
    return recorder.drain()


def _messages() -> list[WorkerMessage]:
    result = UserResult(3, "inserter", 1, 0, ops_executed=7, plan_digest="ab" * 16)
    result.substitutions.append(4)
    return [
        Ready(0),
        Stats(1, _report(), (UserProgress(3, 7, ("#6 bulk_insert",), False),)),
        Done(1, _report(), (result,)),
        Crashed(2, "Traceback (most recent call last):\n  ...\nValueError: boom\n"),
    ]


def test_every_kind_comes_out_of_a_worker_pipe_equal_and_of_its_type() -> None:
    reader, writer = multiprocess.get_context("forkserver").Pipe(duplex=False)
    sent = _messages()
    try:
        reports = PipeReports(writer)
        for message in sent:
            reports.put(message)
        received = [reader.recv() for _ in sent]
    finally:
        reader.close()
        writer.close()

    assert [type(m) for m in received] == [Ready, Stats, Done, Crashed]
    assert received == sent
    # The report inside is still one the coordinator's aggregator merges.
    aggregator = StatsAggregator()
    for message in received:
        if isinstance(message, Stats | Done):
            aggregator.merge(message.report)
    assert aggregator.live().total_ops == 2


def test_messages_are_frozen() -> None:
    message = Crashed(2, "boom")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.worker_idx = 3  # type: ignore[misc]
