"""Replica selection: round-robin, a failed replica leaves rotation, a probe brings it back."""

from __future__ import annotations

from swirl.backends.replicas import ReplicaPool

URLS = ("http://a/v1", "http://b/v1", "http://c/v1")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_over_healthy_replicas():
    pool = ReplicaPool(URLS)
    assert [pool.pick() for _ in range(6)] == [0, 1, 2, 0, 1, 2]


def test_a_failed_replica_leaves_rotation_until_its_probe_succeeds():
    clock = Clock()
    pool = ReplicaPool(URLS, cooldown=2.0, clock=clock)
    pool.failed(1)
    assert pool.in_rotation() == ["http://a/v1", "http://c/v1"]
    assert {pool.pick() for _ in range(10)} == {0, 2}
    clock.now += 2.0
    probe = [pool.pick() for _ in range(4)]
    assert probe.count(1) == 1, "exactly one request probes a replica whose cool-down ended"
    pool.succeeded(1)
    assert pool.in_rotation() == list(URLS)
    assert 1 in {pool.pick() for _ in range(3)}


def test_cooldown_doubles_while_probes_fail():
    clock = Clock()
    pool = ReplicaPool(URLS[:2], cooldown=1.0, max_cooldown=3.0, clock=clock)
    waits = []
    for _ in range(4):
        pool.failed(0)
        start = clock.now
        while pool.pick() != 0:
            clock.now += 0.25
        waits.append(clock.now - start)
    assert waits == [1.0, 2.0, 3.0, 3.0]


def test_a_request_avoids_replicas_it_already_tried():
    pool = ReplicaPool(URLS)
    assert pool.pick({0, 1}) == 2
    assert pool.pick({0, 2}) == 1


def test_with_every_replica_down_the_one_back_soonest_is_tried():
    clock = Clock()
    pool = ReplicaPool(URLS[:2], cooldown=5.0, clock=clock)
    pool.failed(0)
    clock.now += 1.0
    pool.failed(1)
    assert pool.pick() == 0


def test_counts_per_replica():
    pool = ReplicaPool(URLS[:2])
    pool.succeeded(0)
    pool.succeeded(0)
    pool.failed(1)
    pool.succeeded(1)
    counts = pool.counts()
    assert (counts["http://a/v1"].ok, counts["http://a/v1"].failed) == (2, 0)
    assert (counts["http://b/v1"].ok, counts["http://b/v1"].failed) == (1, 1)
