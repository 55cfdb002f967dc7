"""The daemon's full passes wait while another reconcile is urgent (engine.precedence)."""

from __future__ import annotations

import threading

import pytest

from reconciler.engine import Precedence, PrepareSlots


def test_a_full_pass_waits_until_no_reconcile_is_urgent() -> None:
    precedence = Precedence(limit=60.0)
    order: list[str] = []
    waiting = threading.Event()

    def full_pass() -> None:
        waiting.set()
        precedence.wait()
        order.append("full pass")

    with precedence.urgent():
        thread = threading.Thread(target=full_pass)
        thread.start()
        assert waiting.wait(10)
        with precedence.urgent():  # urgent reconciles nest: the last one out releases
            order.append("scoped pass")
        thread.join(0.2)
        assert thread.is_alive()
        order.append("second scoped pass")
    thread.join(30)
    assert order == ["scoped pass", "second scoped pass", "full pass"]


def test_nothing_urgent_means_no_wait_and_the_wait_is_bounded() -> None:
    assert Precedence(limit=60.0).wait() < 60.0
    stuck = Precedence(limit=0.05)
    with stuck.urgent():
        stuck.wait()  # returns after the limit although a reconcile is still urgent


def test_only_a_new_commit_of_an_instance_reconciled_before_is_a_push() -> None:
    precedence = Precedence()
    assert not precedence.is_push("dev@main", "a")  # first reconcile: not a push
    precedence.seen("dev@main", "a")
    assert not precedence.is_push("dev@main", "a")  # the same commit again (a finished step)
    assert precedence.is_push("dev@main", "b")
    assert not precedence.is_push("prod@main", "b")


def test_full_passes_take_turns() -> None:
    precedence = Precedence()
    inside = threading.Event()
    with precedence.full_pass():
        other = threading.Thread(target=_enter_and_flag, args=(precedence, inside), daemon=True)
        other.start()
        assert not inside.wait(0.2)
    assert inside.wait(30)


def _enter_and_flag(precedence: Precedence, flag: threading.Event) -> None:
    with precedence.full_pass():
        flag.set()


def test_a_waiter_for_preparations_leaves_once_its_value_is_ready_without_a_slot() -> None:
    slots = PrepareSlots(1)
    ready: dict[str, str] = {}
    got: dict[str, str | None] = {}
    assert slots.acquire_unless(lambda: None) is None  # another preparation holds the slot

    def wait_for(key: str) -> None:
        got[key] = slots.acquire_unless(lambda: ready.get(key))

    first = threading.Thread(target=wait_for, args=("prod",))  # queued first
    first.start()
    first.join(0.1)
    second = threading.Thread(target=wait_for, args=("dev",))
    second.start()
    second.join(0.1)
    assert first.is_alive() and second.is_alive()
    ready["dev"] = "prepared dev"  # what the holder prepared
    slots.release()
    first.join(30)
    second.join(30)
    assert got == {"prod": None, "dev": "prepared dev"}  # prod holds the slot, dev has its value
    assert slots.acquire_unless(lambda: "known") == "known"  # ready: no wait for prod's slot
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()  # released more often than acquired


def test_a_held_slot_makes_others_wait_until_it_is_given_back() -> None:
    slots = PrepareSlots(1)
    inside = threading.Event()

    def prepare() -> None:
        assert slots.acquire_unless(lambda: None) is None
        inside.set()
        slots.release()

    assert slots.acquire_unless(lambda: None) is None
    other = threading.Thread(target=prepare, daemon=True)
    other.start()
    assert not inside.wait(0.2)
    slots.release()
    assert inside.wait(30)
