"""A checked target as JSON between ``v6scan serve`` and ``v6scan check --remote``.

The server sends what it measured and how it scored it: the target, every observation with its raw
evidence, and the verdict as scoring made it (:func:`v6scan.scoring.verdict_to_data`).  The client
rebuilds the :class:`v6scan.output.Outcome` a local check would have had and renders it with the
same code, so every output format, the exit code and the gates are those of a local check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from v6scan.engine import TargetResult
from v6scan.errors import V6scanError
from v6scan.model import JSON, Observation
from v6scan.output import Outcome
from v6scan.providers import ProviderTable
from v6scan.scoring import SiteVerdict, verdict_from_data, verdict_to_data
from v6scan.targets import Target

__all__ = ["WIRE_SCHEMA", "WireError", "outcome_from_json", "outcome_to_json", "stored_outcome"]

WIRE_SCHEMA = "v6scan.outcome/1"


class WireError(V6scanError, ValueError):
    """What the server sent is not an outcome this version can read."""


def outcome_to_json(result: TargetResult, verdict: SiteVerdict) -> dict[str, JSON]:
    return {"schema": WIRE_SCHEMA, "target": dataclasses.asdict(result.target), "names": list(result.names),
            "observations": [o.to_json() for o in result.observations], "started_at": result.started_at,
            "finished_at": result.finished_at, "verdict": verdict_to_data(verdict)}


def outcome_from_json(d: Mapping[str, Any], providers: ProviderTable | None = None) -> Outcome:
    """The outcome a local check would have made (``sweep`` None, attributed with ``providers``)."""
    try:
        if d.get("schema") != WIRE_SCHEMA:
            raise WireError(f"not a {WIRE_SCHEMA} document (schema {d.get('schema')!r})")
        t = d["target"]
        target = Target(**{f.name: t.get(f.name) for f in dataclasses.fields(Target)})
        result = TargetResult(target, [str(n) for n in d["names"]],
                              [Observation.from_json(o) for o in d["observations"]],
                              str(d["started_at"]), d.get("finished_at"))
        return Outcome(result, verdict_from_data(d["verdict"]), providers=providers)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise WireError(f"the server sent an outcome that cannot be read: {type(e).__name__}: {e}") from None


def stored_outcome(row: Mapping[str, Any], observations: Iterable[Observation], verdict: SiteVerdict
                   ) -> dict[str, JSON]:
    """:func:`outcome_to_json` of a target as the store holds it (a row of ``Store.observations``)."""
    obs = list(observations)
    target = Target(str(row["tname"]), str(row["display"]), row.get("sector"), row.get("region"),
                    row.get("organisation"))
    names = list(dict.fromkeys(o.target for o in obs if o.target != "self"))
    result = TargetResult(target, names, obs, str(row.get("started") or ""), row.get("finished"))
    return outcome_to_json(result, verdict)
