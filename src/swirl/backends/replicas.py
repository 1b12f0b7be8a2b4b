"""Server replicas behind one ``openai:MODEL@URL1,URL2`` reference: which one takes the next request.

Requests go round-robin over the replicas in rotation. A replica whose request fails
(connection error, timeout, 5xx) leaves the rotation for a cool-down that doubles with
every failure in a row; when the cool-down ends, one request is sent there as a probe:
success puts the replica back, failure starts a longer cool-down. With no replica in
rotation, the one whose cool-down ends first is tried, so a request never waits on a
replica that is known to be down while another is up. Requests served and failed per
replica are counted for the run's report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel


class ReplicaCounts(BaseModel):
    """Requests one replica answered (``ok``, including replies that retrying would not
    change) and failed (``failed``: no reply, a timeout or a 5xx) during a run."""

    ok: int = 0
    failed: int = 0


@dataclass
class _Replica:
    url: str
    failures_in_a_row: int = 0
    down_until: float = 0.0
    probing: bool = False
    ok: int = 0
    failed: int = 0


class ReplicaPool:
    def __init__(
        self,
        urls: tuple[str, ...],
        *,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._replicas = [_Replica(url) for url in urls]
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._cursor = 0

    def __len__(self) -> int:
        return len(self._replicas)

    def pick(self, avoid: frozenset[int] | set[int] = frozenset()) -> int:
        """The replica for the next attempt of a request, skipping the ones in ``avoid`` when possible."""
        now = self._clock()
        count = len(self._replicas)
        order = [(self._cursor + k) % count for k in range(count)]
        candidates = [i for i in order if i not in avoid] or order
        for index in candidates:
            replica = self._replicas[index]
            if replica.failures_in_a_row and not replica.probing and replica.down_until <= now:
                replica.probing = True
                return index
        for index in candidates:
            if self._replicas[index].failures_in_a_row == 0:
                self._cursor = (index + 1) % count
                return index
        return min(candidates, key=lambda i: self._replicas[i].down_until)

    def succeeded(self, index: int) -> None:
        replica = self._replicas[index]
        replica.ok += 1
        replica.failures_in_a_row = 0
        replica.probing = False

    def failed(self, index: int) -> None:
        """Take the replica out of rotation until its cool-down ends."""
        replica = self._replicas[index]
        replica.failed += 1
        replica.failures_in_a_row += 1
        replica.probing = False
        delay = min(self.max_cooldown, self.cooldown * 2 ** (replica.failures_in_a_row - 1))
        replica.down_until = self._clock() + delay

    def in_rotation(self) -> list[str]:
        return [r.url for r in self._replicas if r.failures_in_a_row == 0]

    def counts(self) -> dict[str, ReplicaCounts]:
        return {r.url: ReplicaCounts(ok=r.ok, failed=r.failed) for r in self._replicas}
