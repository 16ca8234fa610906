"""The workers, as threads (``STRESS_PROCESSES=0``) or processes, behind one interface.

In processes, each worker has a pipe of its own for its reports and the coordinator waits on
every pipe and every process sentinel at once (``multiprocessing.connection.wait``), so a report
or a worker's death wakes it at once, never after a polling delay. A dead worker's pipe is
drained without blocking (its last message may be cut short by the kill) and then dropped.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from typing import Any

import multiprocess
from multiprocess.connection import wait as wait_any

from stress.config import OnCrash
from stress.controls import Controls, process_controls, thread_controls
from stress.engine.journal import ProgressSlots
from stress.engine.messages import WorkerMessage
from stress.engine.worker import PipeReports, WorkerSpec, run_worker_thread, worker_process_main

__all__ = ["STOP_GRACE_S", "WorkerPool"]

#: How long users get to finish their op in flight after the stop flag, before the
#: coordinator gives up on a worker (a 10,000-row batch on a slow disk can take a while).
STOP_GRACE_S = 30.0
#: How long a SIGKILLed worker gets to be reaped (the kernel's work, not the worker's).
_KILL_JOIN_S = 5.0


class WorkerPool:
    """Starts, watches, restarts and finally joins the workers."""

    def __init__(
        self,
        specs: list[WorkerSpec],
        processes: int,
        on_crash: OnCrash = "stop",
    ) -> None:
        self.specs = specs
        self.in_processes = processes > 0
        self.on_crash = on_crash
        #: The spec each worker runs now (a restarted worker's carries its resume points).
        self.current: dict[int, WorkerSpec] = {spec.worker_idx: spec for spec in specs}
        self.handles: dict[int, Any] = {}
        self.restarts: dict[int, int] = {}
        self.slots: ProgressSlots | None = None
        self._readers: dict[int, Any] = {}
        self._reaped: set[int] = set()
        #: Pids :meth:`kill` has signalled: a process is killed once, however soon it is asked
        #: again (it stays alive until the kernel delivers the signal).
        self._killed: set[int] = set()
        if self.in_processes:
            # forkserver: workers fork from a clean server process, never from a coordinator
            # that already runs threads (forking a threaded process can copy a held lock).
            self._ctx = multiprocess.get_context("forkserver")
            self.controls: Controls = process_controls(self._ctx)
            users = 1 + max((u.user_id for s in specs for u in s.users), default=0)
            self.slots = ProgressSlots.allocate(self._ctx, users)
        else:
            self.controls = thread_controls()
            self._queue: queue.Queue[WorkerMessage] = queue.Queue()

    def start(self) -> None:
        for spec in self.specs:
            self._launch(spec)

    def _launch(self, spec: WorkerSpec) -> None:
        name = f"stress-worker-{spec.worker_idx}"
        handle: Any
        if self.in_processes:
            reader, writer = self._ctx.Pipe(duplex=False)
            handle = self._ctx.Process(
                target=worker_process_main,
                args=(spec, self.controls, PipeReports(writer), self.slots),
                name=name,
            )
            handle.start()
            # Only the worker may hold the writing end, or its death would never read as EOF.
            writer.close()
            self._readers[spec.worker_idx] = reader
        else:
            handle = threading.Thread(
                target=run_worker_thread,
                args=(spec, self.controls, self._queue),
                name=name,
                daemon=True,
            )
            handle.start()
        self.handles[spec.worker_idx] = handle
        self.current[spec.worker_idx] = spec

    def restart(self, spec: WorkerSpec) -> None:
        """Start worker ``spec.worker_idx`` again (after it died) with ``spec``."""
        self._reaped.discard(spec.worker_idx)
        self.restarts[spec.worker_idx] = self.restarts.get(spec.worker_idx, 0) + 1
        self._launch(spec)

    def kill(self, worker_idx: int) -> int | None:
        """SIGKILL worker ``worker_idx`` (an injected fault).

        Its pid, or None when it is not running (exited, or already killed and not yet
        restarted).
        """
        handle = self.handles.get(worker_idx)
        if not self.in_processes or handle is None or worker_idx in self._reaped:
            return None
        if handle.pid in self._killed or not handle.is_alive():
            return None
        pid = int(handle.pid)
        os.kill(pid, signal.SIGKILL)
        self._killed.add(pid)
        return pid

    def pids(self) -> dict[int, int]:
        """Process id of every live worker process (none with threads)."""
        if not self.in_processes:
            return {}
        return {idx: h.pid for idx, h in self.handles.items() if h.pid and h.is_alive()}

    def receive(self, timeout: float) -> list[WorkerMessage]:
        """The messages that arrived, waiting up to ``timeout`` s for the first one."""
        if not self.in_processes:
            return self._receive_queue(timeout)
        waitables = list(self._readers.values())
        waitables += [h.sentinel for idx, h in self.handles.items() if idx not in self._reaped]
        ready = set(wait_any(waitables, timeout)) if waitables else set()
        messages: list[WorkerMessage] = []
        for idx, reader in list(self._readers.items()):
            if reader in ready:
                messages += self._drain(idx, dead=False)
        return messages

    def _receive_queue(self, timeout: float) -> list[WorkerMessage]:
        messages: list[WorkerMessage] = []
        try:
            messages.append(
                self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            )
            while True:
                messages.append(self._queue.get_nowait())
        except queue.Empty:
            return messages

    def _drain(self, idx: int, dead: bool) -> list[WorkerMessage]:
        reader = self._readers.get(idx)
        if reader is None:
            return []
        if dead:
            # Whatever is in the pipe now is all there will be: never block on a message the
            # kill cut short.
            os.set_blocking(reader.fileno(), False)
        messages: list[WorkerMessage] = []
        try:
            while reader.poll():
                messages.append(reader.recv())
        except (EOFError, OSError):
            self._close_reader(idx)
        except Exception:
            if not dead:
                raise
            self._close_reader(idx)  # a garbled tail of a killed worker's last message
        if dead:
            self._close_reader(idx)
        return messages

    def _close_reader(self, idx: int) -> None:
        reader = self._readers.pop(idx, None)
        if reader is not None:
            reader.close()

    def reap(self, done: set[int]) -> tuple[list[WorkerMessage], dict[int, Any]]:
        """Messages left by workers that exited, and those that exited without finishing.

        Each exited worker is returned once (until it is restarted). The caller handles the
        messages first: one of them may be the worker's final report.
        """
        if not self.in_processes:
            return [], {}
        messages: list[WorkerMessage] = []
        exited: dict[int, Any] = {}
        for idx, handle in self.handles.items():
            if idx in self._reaped or handle.is_alive():
                continue
            # Reaped even when it finished cleanly: the sentinel of an exited process is always
            # ready, and left in receive()'s wait it would turn the loop into a busy spin.
            self._reaped.add(idx)
            messages += self._drain(idx, dead=True)
            if idx not in done:
                exited[idx] = handle
        return messages, exited

    def finish(self, grace_s: float = STOP_GRACE_S) -> list[int]:
        """Join every worker within ``grace_s`` in all; the pids of those SIGKILLed after it.

        A worker process ignores SIGTERM (a group-wide one is the coordinator's to act on),
        so one stuck past the grace (stopped, or spinning in an engine's lock) is SIGKILLed:
        no worker outlives its run to eat the machine's cores. A worker thread cannot be
        killed; it is left to end with its process.
        """
        deadline = time.monotonic() + grace_s
        killed: list[int] = []
        for handle in self.handles.values():
            handle.join(max(0.0, deadline - time.monotonic()))
            if self.in_processes and handle.is_alive():
                handle.kill()
                handle.join(_KILL_JOIN_S)
                killed.append(handle.pid)
        for idx in list(self._readers):
            self._close_reader(idx)
        return killed
