"""JobQueue: priority FIFO, one running job, one job per key, cancel of queued and running jobs, retention."""

from __future__ import annotations

import threading

import pytest

from e2fgvi_server.jobs import CANCELLED, DONE, QUEUED, RUNNING, Job, JobQueue


def _job(key: str, priority: int = 0, client: bytes = b"c1") -> Job:
    return Job(key=key, client=client, request={"plate": f"/{key}.%04d.exr"}, priority=priority)


def test_higher_priority_first_then_arrival_order_and_one_job_at_a_time():
    queue = JobQueue()
    for key, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5)]:
        queue.put(_job(key, priority))
    order = []
    while True:
        job = queue.take(0.01)
        if job is None:
            break
        assert queue.take(0.01) is None  # nothing else starts while a job is running
        assert job.state == RUNNING
        order.append(job.key)
        queue.finish(job, DONE)
    assert order == ["b", "d", "a", "c"]
    assert queue.completed == 4


def test_a_known_key_is_refused_and_finished_jobs_stay_findable_by_key():
    """Re-attaching is the broker's (it checks the secret and the request digest first): the queue never does it."""
    queue = JobQueue()
    first = queue.put(_job("shot-1", client=b"old"))
    with pytest.raises(ValueError, match="already job"):
        queue.put(_job("shot-1", client=b"new"))
    assert len(queue.queued()) == 1 and first.watchers == [b"old"]
    queue.finish(queue.take(0.01), DONE)
    assert queue.find(key="shot-1") is first and first.state == DONE  # kept for late resubmits


def test_cancel_queued_job_finishes_it_and_running_job_gets_its_token_set():
    queue = JobQueue()
    running_job = queue.put(_job("r"))
    waiting = queue.put(_job("w"))
    assert queue.take(0.01) is running_job
    assert queue.cancel("by test", key="w") is waiting and waiting.state == CANCELLED
    assert queue.cancel("by test", job_id=running_job.job_id) is running_job
    assert running_job.cancel.is_set() and running_job.state == RUNNING and running_job.cancel_reason == "by test"
    assert queue.cancel("x", key="nope") is None
    queue.finish(running_job, CANCELLED)
    assert queue.take(0.01) is None


def test_take_wakes_up_when_a_job_arrives():
    queue = JobQueue()
    got = []
    thread = threading.Thread(target=lambda: got.append(queue.take(5.0)))
    thread.start()
    job = queue.put(_job("late"))
    thread.join(5.0)
    assert got == [job]


def test_finished_jobs_are_forgotten_beyond_the_retention_limit_and_full_queue_is_refused():
    queue = JobQueue(max_queued=2, retain=2)
    for key in ("a", "b", "c"):
        queue.put(_job(key))
        queue.finish(queue.take(0.01), DONE)
    assert queue.find(key="a") is None and queue.find(key="c") is not None
    queue.put(_job("x"))
    queue.put(_job("y"))
    try:
        queue.put(_job("z"))
    except OverflowError as exc:
        assert "queue is full" in str(exc)
    else:
        raise AssertionError("a full queue must refuse new jobs")


def test_close_cancels_queued_jobs_and_active_for_client_lists_unfinished_jobs():
    queue = JobQueue()
    a = queue.put(_job("a", client=b"x"))
    b = queue.put(_job("b", client=b"x"))
    queue.put(_job("c", client=b"y"))
    assert {j.key for j in queue.active_for_client(b"x")} == {"a", "b"}
    assert queue.take(0.01) is a
    cancelled = queue.close()
    assert {j.key for j in cancelled} == {"b", "c"} and b.state == CANCELLED
    assert a.state == RUNNING and queue.take(0.01) is None
    assert all(j.state != QUEUED for j in (a, b))
