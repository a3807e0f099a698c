"""Backpressure bookkeeping (pure): the in-flight cap, FIFO order, 429 beyond the queue, a
cancelled queued item never started."""

from __future__ import annotations

from controller.service.admission import Admission, Slot


def filled(in_flight: int, queued: int) -> Admission[str, str]:
    a: Admission[str, str] = Admission(max_in_flight=2, max_queued=2)
    for i in range(in_flight):
        assert a.reserve() is Slot.RUN, i
    for i in range(queued):
        assert a.reserve() is Slot.QUEUE, i
        a.enqueue(f"q{i}", f"item{i}")
    return a


def test_slots_then_queue_then_refusal() -> None:
    a = filled(2, 2)
    assert a.reserve() is None  # full: 429
    assert (a.in_flight, a.queued) == (2, 2)


def test_a_finished_invocation_hands_its_slot_to_the_oldest_queued() -> None:
    a = filled(2, 2)
    assert a.done() == ("q0", "item0")
    assert a.done() == ("q1", "item1")
    assert a.in_flight == 2  # the slots moved on, never more than the cap
    assert a.done() is None
    assert a.done() is None
    assert a.in_flight == 0


def test_nobody_overtakes_the_queue() -> None:
    a = filled(2, 1)
    a.done()  # q0 takes the slot
    a2 = filled(1, 0)
    assert a2.reserve() is Slot.RUN  # a free slot and an empty queue: run at once
    b = filled(2, 1)
    b.in_flight -= 1  # a slot frees while q0 still waits
    assert b.reserve() is Slot.QUEUE  # a newcomer queues behind q0
    assert b.take_free() == ("q0", "item0")


def test_a_cancelled_queued_item_is_never_handed_out() -> None:
    a = filled(2, 2)
    assert a.cancel("q0") is True
    assert a.cancel("q0") is False
    assert a.done() == ("q1", "item1")
    assert a.done() is None


def test_an_unused_reservation_is_given_back() -> None:
    a = filled(1, 0)
    slot = a.reserve()
    assert slot is Slot.RUN
    a.release(slot)
    assert a.in_flight == 1
    a = filled(2, 0)
    slot = a.reserve()
    assert slot is Slot.QUEUE
    a.release(slot)
    assert a.queued == 0


def test_the_queued_keys_are_what_the_queue_holds_oldest_first() -> None:
    a = filled(2, 2)
    assert a.queued_keys() == ["q0", "q1"]
    a.cancel("q0")
    a.done()  # q1 takes a slot
    assert a.queued_keys() == []
