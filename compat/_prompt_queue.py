"""ComfyUI's ``PromptQueue`` as packs use it (``PromptServer.instance.prompt_queue``): a view of
Plexus's durable job queue. Reading and removing work; adding a prompt goes through ``POST
/prompt`` (validation, durability), so ``put`` raises :class:`NotAvailableInPlexus`."""
from __future__ import annotations

from typing import Any, Callable

from _unavailable import NotAvailableInPlexus


class PromptQueue:
    def __init__(self, server: Any):
        self.server = server
        self.flags: dict[str, Any] = {}

    @property
    def _jobs(self) -> Any:
        queue = getattr(self.server, "queue", None)
        if queue is None:
            raise NotAvailableInPlexus("PromptServer.instance.prompt_queue", "no server queue in this process")
        return queue

    def _changed(self) -> None:
        notify = getattr(self.server, "queue_changed", None)
        if callable(notify):
            notify()

    def put(self, item: Any) -> None:
        raise NotAvailableInPlexus("PromptQueue.put", "queue prompts with POST /prompt")

    def get_current_queue(self) -> tuple[list, list]:
        """``(running, pending)`` lists of ``[number, prompt_id, prompt, extra_data, outputs]``."""
        jobs = self._jobs
        return [j.queue_item() for j in jobs.running()], [j.queue_item() for j in jobs.pending()]

    get_current_queue_volatile = get_current_queue

    def get_tasks_remaining(self) -> int:
        return self._jobs.remaining()

    def wipe_queue(self) -> None:
        self._jobs.clear_pending()
        self._changed()

    def delete_queue_item(self, function: Callable[[list], bool]) -> bool:
        """Remove the first pending item for which ``function(item)`` is true."""
        for job in self._jobs.pending():
            if function(job.queue_item()):
                deleted = self._jobs.delete_pending([job.prompt_id]) > 0
                self._changed()
                return deleted
        return False

    def get_history(self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1) -> dict:
        return self._jobs.history(max_items=max_items, offset=offset, prompt_id=prompt_id)

    def wipe_history(self) -> None:
        self._jobs.clear_history()

    def delete_history_item(self, id_to_delete: str) -> None:
        self._jobs.delete_history([id_to_delete])

    def set_flag(self, name: str, data: Any) -> None:
        self.flags[name] = data

    def get_flags(self, reset: bool = True) -> dict:
        flags = dict(self.flags)
        if reset:
            self.flags.clear()
        return flags
