"""What SIGINT and SIGTERM do to a run: stop the users, or skip a verification under way.

The first signal while users run sets :attr:`Interrupts.abort`: every user stops after its op
in flight, and the run writes both artifacts at once. The oracle runs only after that (it can
take seconds on a large run); a signal while it runs raises :class:`VerificationSkipped` in the
main thread, so the run records "verification skipped" and exits 130 instead of making whoever
pressed Ctrl-C twice wait. The oracle only reads, so stopping it part way leaves nothing
half-written.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupts", "VerificationSkipped"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class VerificationSkipped(Exception):
    """A signal arrived while the oracle ran: the run ends without a verdict."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"{signal_name} during verification")


class Interrupts:
    """The run's view of SIGINT/SIGTERM (installed by the CLI, or driven by a test)."""

    def __init__(self) -> None:
        #: Set by the first signal: users stop and the run ends as ``UserAbort``.
        self.abort = threading.Event()
        self._verifying = False

    def on_signal(self, signum: int) -> None:
        """What a signal does now: skip the verification under way, or stop the users."""
        if self._verifying:
            self._verifying = False  # one skip: the handler must not fire again in cleanup
            raise VerificationSkipped(signal.Signals(signum).name)
        self.abort.set()

    @contextmanager
    def verifying(self) -> Iterator[None]:
        """While inside, a signal raises :class:`VerificationSkipped` here."""
        self._verifying = True
        try:
            yield
        finally:
            self._verifying = False

    @contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Route SIGINT and SIGTERM here (main thread only), restoring the old handlers after."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.on_signal(signum)

        previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
