"""Which pending job a cluster worker should claim: model affinity first, then the least busy.

Every cluster worker (one :class:`~execution.jobs.worker.QueueWorker` per Ray actor) asks
:meth:`AffinityScheduler.choose` when it is free. The scheduler replays the assignment of the
first pending jobs, in queue order, to the workers that are free right now:

1. a job goes to a free worker that already holds its models (the most of them), the one on
   the least busy device first;
2. a job whose models only a *busy* worker holds is deferred to it (it finishes soon and
   keeps the model warm) - unless nothing else is left for the asking worker, which then
   takes the first deferred job, so no worker idles while jobs wait;
3. any other job goes to the least busy free worker (fewest running jobs on its device, then
   fewest jobs run so far).

The asking worker claims the job the replay gives it. SQLite still decides who wins a claim;
this only orders the candidates. A job's models are the model-name inputs of its loader nodes
(``ckpt_name``, ``unet_name``, ``clip_name1``...), a cheap stand-in for what it will load.

Stdlib only; no Ray here, so it is tested without a cluster.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

MODEL_INPUT = re.compile(r"(^|_)name\d*$")
FRESH_SECONDS = 3.0  # a free worker polls at least every second; older means gone or stuck


def model_keys(prompt: dict) -> frozenset[str]:
    """``class:input=value`` for the model-name inputs of the prompt's loader nodes."""
    keys = set()
    for node in prompt.values():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type", ""))
        if "load" not in class_type.lower():
            continue
        for name, value in (node.get("inputs") or {}).items():
            if isinstance(value, str) and value and MODEL_INPUT.search(name):
                keys.add(f"{name}={value}")
    return frozenset(keys)


@dataclass
class SlotState:
    """What the scheduler knows about one worker."""

    slot_id: str
    device_key: str = ""  # workers sharing a GPU share this
    models: set[str] = field(default_factory=set)
    busy: bool = False
    alive: bool = False
    last_poll: float = 0.0
    jobs_run: int = 0


class AffinityScheduler:
    def __init__(self, window: int = 64) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._slots: dict[str, SlotState] = {}

    # -- what the workers report -----------------------------------------------------------------
    def register(self, slot_id: str, device_key: str = "") -> None:
        with self._lock:
            slot = self._slots.setdefault(slot_id, SlotState(slot_id))
            slot.device_key, slot.alive, slot.busy, slot.models = device_key or slot_id, True, False, set()

    def unregister(self, slot_id: str) -> None:
        with self._lock:
            self._slots.pop(slot_id, None)

    def lost(self, slot_id: str) -> None:
        """The worker's actor died: it holds nothing and is free of work until it is back."""
        with self._lock:
            slot = self._slots.get(slot_id)
            if slot is not None:
                slot.alive, slot.busy, slot.models = False, False, set()

    def finished(self, slot_id: str, keys: Iterable[str], keep_models: bool) -> None:
        with self._lock:
            slot = self._slots.get(slot_id)
            if slot is None:
                return
            slot.busy = False
            slot.jobs_run += 1
            if keep_models:
                slot.models.update(keys)

    def freed(self, slot_id: str) -> None:
        with self._lock:
            slot = self._slots.get(slot_id)
            if slot is not None:
                slot.models.clear()

    def models_of(self, slot_id: str) -> set[str]:
        with self._lock:
            slot = self._slots.get(slot_id)
            return set(slot.models) if slot else set()

    # -- the decision ----------------------------------------------------------------------------
    def choose(self, slot_id: str, pending: list[Any], others: list[str] | None = None) -> Any | None:
        """The job of ``pending`` (queue order, each with ``.prompt``) this worker should claim.

        Marks the worker busy when it returns a job; the caller reports :meth:`finished` (or
        :meth:`release` when the claim failed). ``others`` receives the free workers the replay
        gave a job to, so the caller can wake them.
        """
        now = time.monotonic()
        with self._lock:
            me = self._slots.get(slot_id)
            if me is None or not me.alive:
                return None
            me.last_poll = now
            if me.busy or not pending:
                return None
            live = [s for s in self._slots.values() if s.alive]
            free = [s for s in live if not s.busy and (s is me or now - s.last_poll < FRESH_SECONDS)]
            running_on = {}
            for slot in live:
                running_on[slot.device_key] = running_on.get(slot.device_key, 0) + int(slot.busy)

            def load(slot: SlotState) -> tuple:
                return (running_on.get(slot.device_key, 0), slot.jobs_run, slot.slot_id)

            deferred = None
            for job in pending[: self.window]:
                keys = model_keys(job.prompt)
                chosen = None
                if keys:
                    overlap = {s.slot_id: len(keys & s.models) for s in live}
                    best = max(overlap.values(), default=0)
                    holders = [s for s in free if best and overlap[s.slot_id] == best]
                    if holders:
                        chosen = min(holders, key=load)
                    elif best:  # only busy workers hold its models: leave it to them for now
                        deferred = deferred or job
                        continue
                if chosen is None:
                    chosen = min(free, key=load)
                if chosen is me:
                    me.busy = True
                    return job
                if others is not None:
                    others.append(chosen.slot_id)
                free.remove(chosen)
                running_on[chosen.device_key] = running_on.get(chosen.device_key, 0) + 1
            if deferred is not None and me in free:
                me.busy = True
                return deferred
            return None

    def release(self, slot_id: str) -> None:
        """A chosen job could not be claimed (another server or a delete took it)."""
        with self._lock:
            slot = self._slots.get(slot_id)
            if slot is not None:
                slot.busy = False

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [{"slot": s.slot_id, "device_key": s.device_key, "busy": s.busy, "alive": s.alive,
                     "models": sorted(s.models), "jobs_run": s.jobs_run} for s in self._slots.values()]
