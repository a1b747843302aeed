"""What the process keeps from one config to the next: a reload swaps the application, not what serving has learnt.

`serve` builds one application per config (a generation: `ops.runtime`); the old one finishes
its requests while the new one takes new connections. What is kept here is handed to every
generation, so a reload (SIGHUP, `POST /admin/reload`) loses nothing a running gateway knows:
- the reasoning kept for replay (an agent loop in progress keeps its thinking);
- each deployment's cooldown, usage windows and requests in flight (by deployment id);
- each key's rate-limit window and parallel requests, and the budget ledger (charges not yet
  written, reservations of requests still running on the old config);
- the metrics (counters go on counting, gauges count both generations' streams);
- what was alerted (a budget or a cooldown is not announced again);
- the streams open now (the admin page).
With Redis, cooldowns and rate limits live there already and these are not used for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..accounting.service import AccountingMemory
from ..config import Config
from ..observe.alerts import AlertMemory
from ..observe.metrics import Metrics
from ..replay import ReasoningReplay
from ..requestlog.live import OpenStreams
from ..router.state import MemoryState

__all__ = ["Lasting"]


@dataclass(slots=True, eq=False)
class Lasting:
    replay: ReasoningReplay
    router: MemoryState = field(default_factory=MemoryState)
    metrics: Metrics = field(default_factory=Metrics)
    alerts: AlertMemory = field(default_factory=AlertMemory)
    accounting: AccountingMemory = field(default_factory=AccountingMemory)
    streams: OpenStreams = field(default_factory=OpenStreams)

    @classmethod
    def create(cls, config: Config) -> Lasting:
        return cls(ReasoningReplay(_replay_bytes(config)))

    def adopt(self, config: Config) -> None:
        """A generation for `config` starts: limits it sets apply from now on."""
        self.replay.resize(_replay_bytes(config))


def _replay_bytes(config: Config) -> int:
    return int(config.reasoning_replay_mb * 1024 * 1024)
