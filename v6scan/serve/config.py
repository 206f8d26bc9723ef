"""The server's own configuration: what no API caller can change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v6scan.serve.auth import Tokens
from v6scan.settings import Settings
from v6scan.targets import NameExclusions

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """``settings`` are the scans' settings as ``serve``'s options made them (resolvers, the address
    policy and its allow-list, exclusions, self-check, CA bundle, root hints, trust anchors,
    politeness); a request changes only the options :data:`v6scan.options.REQUEST_OPTIONS` names."""

    db: Path
    settings: Settings
    excluded: NameExclusions
    tokens: Tokens
    #: a URL that receives a JSON message when a scheduled sweep finds sites that got worse
    webhook: str | None = None
    #: checks and sweeps running at once (more wait their turn)
    max_jobs: int = 2
    #: names connecting at once within one sweep (``scan --concurrency``)
    concurrency: int = 64
    #: requests a minute per token (as many at once)
    rate_per_minute: int = 120
    #: bytes a request body may have (a target list of a sweep)
    max_body: int = 10 << 20
    #: where reports of big sweeps are written as directories (default: next to the database)
    state_dir: Path | None = None
    #: the address the service is reached at, for links in webhook messages
    public_url: str | None = None
    #: seconds between two looks at the schedules
    tick: float = 5.0
    #: seconds before an incomplete sweep (the scanner was at fault) is resumed
    retry_after: float = 60.0
    #: the shortest interval a schedule may have (seconds)
    min_interval: float = 300.0
    #: checks and sweeps one token may have queued or running, and schedules it may keep
    max_queued: int = 20
    max_schedules: int = 20

    @property
    def reports(self) -> Path:
        return self.state_dir or self.db.with_name(self.db.name + ".reports")
