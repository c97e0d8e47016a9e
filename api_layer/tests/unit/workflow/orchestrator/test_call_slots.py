"""`CallSlots`: at most `limit` calls at once, granted in ticket order, and a place given up never blocks the line."""

from __future__ import annotations

import threading
import time

from dbrx_api.workflow.orchestrator.apply import CallSlots

WAIT_S = 5.0


def _run_in_threads(slots: CallSlots, tickets: list[int], hold_s: float) -> tuple[list[int], int]:
    """Each ticket in its own thread, started in reverse order; returns the order the slots were granted and the
    most slots held at once."""
    granted: list[int] = []
    holding = [0, 0]  # now, most
    guard = threading.Lock()

    def call(ticket: int) -> None:
        with slots.held(ticket):
            with guard:
                granted.append(ticket)
                holding[0] += 1
                holding[1] = max(holding[1], holding[0])
            time.sleep(hold_s)
            with guard:
                holding[0] -= 1

    threads = [threading.Thread(target=call, args=(t,)) for t in reversed(tickets)]
    for thread in threads:
        thread.start()
        time.sleep(0.01)  # the later tickets are already waiting when the first one arrives
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive(), "a ticket never got its slot"
    return granted, holding[1]


def test_one_slot_grants_calls_in_ticket_order_whatever_order_they_arrive_in() -> None:
    slots = CallSlots(1)
    tickets = [slots.ticket() for _ in range(5)]

    granted, most = _run_in_threads(slots, tickets, hold_s=0.01)

    assert granted == tickets
    assert most == 1


def test_no_more_calls_than_slots_run_at_once() -> None:
    slots = CallSlots(2)
    tickets = [slots.ticket() for _ in range(6)]

    granted, most = _run_in_threads(slots, tickets, hold_s=0.05)

    assert sorted(granted) == tickets
    assert most == 2


def test_a_ticket_given_up_lets_the_next_in_line_through() -> None:
    slots = CallSlots(1)
    first, second = slots.ticket(), slots.ticket()
    slots.leave(first)  # e.g. the action was refused before its call

    done = threading.Event()

    def call() -> None:
        with slots.held(second):
            done.set()

    thread = threading.Thread(target=call)
    thread.start()
    assert done.wait(WAIT_S)
    thread.join(WAIT_S)
    slots.leave(second)  # after its call: nothing left to give up, and no error
