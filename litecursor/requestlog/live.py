"""What is happening now, for the admin page: answers streaming at this moment (a listener)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..pipeline import Call, Outcome

if TYPE_CHECKING:
    from ..protocol.types import ChatRequest

_NOTE = "requestlog.open_stream"


class OpenStreams:
    """Counts the streamed chat requests of this process between admit and finish."""

    def __init__(self) -> None:
        self.count = 0

    async def admit(self, call: Call, req: ChatRequest) -> None:
        if req.stream:
            self.count += 1
            call.notes[_NOTE] = True

    def finish(self, call: Call, outcome: Outcome) -> None:
        if call.notes.pop(_NOTE, False):
            self.count -= 1
