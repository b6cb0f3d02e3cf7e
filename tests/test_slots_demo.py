"""The demo's 2024 slots campaign (R-SLOT-6): the planner's invariants hold on every school of the demo seed."""

from __future__ import annotations

from models.slots import (
    PlannedSession,
    Session,
    Slot,
    SlotStatus,
    plan_all,
    plan_problems,
    rooms_for,
    school_classes,
)
from seed.demo import seed_demo
from seed.slots import seed_slots


async def test_r_slot_6_planner_invariants_on_every_demo_school(sqlite_db: str) -> None:
    """R-SLOT-6 / R-SLOT-5: every planned school of the demo: each class once, 9:00 or 14:00 half-days, 30 minutes,
    never across half-days, two rooms above 250 laptops, 2–3 working days after delivery, the school's order kept;
    and the planner run over all schools gives the stored plans back."""
    await seed_demo()
    created = await seed_slots()
    assert created["slots"] > 400 and created["sessions"] > 1000
    slots = await Slot.filter(year=2024).exclude(distribution_on=None)
    assert len(slots) > 350
    assert await Slot.filter(year=2024, status=SlotStatus.TO_BOOK).exists()  # some schools have not booked
    assert any(s.rooms == 2 for s in slots) and any(s.rooms == 1 for s in slots)
    sessions: dict[int, list[PlannedSession]] = {}
    for r in await Session.all().order_by("position"):
        sessions.setdefault(r.slot_id, []).append(
            PlannedSession(r.day, r.starts_at, r.room, r.class_name, r.students, r.position))
    classes = await school_classes([s.school_id for s in slots])
    planned = await plan_all(2024)
    for slot in slots:
        plan = sessions.get(slot.id, [])
        assert slot.rooms == rooms_for(slot.laptops), slot.id
        assert plan_problems(plan, slot.rooms, slot.delivery_on) == [], slot.id
        assert {p.class_name for p in plan} == set(classes[slot.school_id]), slot.id
        order = [c.strip() for c in slot.class_order.split(",") if c.strip()]
        assert [p.class_name for p in plan][:len(order)] == order, slot.id
        assert planned[slot.id] == plan, slot.id
    assert await seed_slots() == {"delivery_days": 0, "slots": 0, "sessions": 0}  # idempotent
    # `python app.py plan <UAI>` prints a school's plan, half-day by half-day, with the agents' arrival (R-SLOT-6).
    from models.schools import School
    from tests.cli import run_cli

    big = next(s for s in slots if s.rooms == 2)
    uai = (await School.get(id=big.school_id)).uai
    done = run_cli("plan", uai.lower(), env={"DATABASE_URL": sqlite_db})
    assert done.returncode == 0, done.stderr
    assert f"({uai}) — campagne 2024" in done.stdout and "agents sur place à 08:30" in done.stdout
    assert "09:00–09:30  salle 2/2" in done.stdout
