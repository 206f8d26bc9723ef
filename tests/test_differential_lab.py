"""One sweep, one answer: the lab's whole target list (every scenario, the hostile ones included)
swept in one process, with ``--workers 2`` and on Dask (``--cluster local:2``) gives every target
the same verdict and every check the same result, per name; and each sweep finishes (every target
with a verdict, exit 0: asserted where the sweeps run, ``tests.test_cli_lab.lab_sweep``, which the
other lab tests share, so this costs one extra sweep: the Dask one).

Compared: per target, the verdict and each check's result for each name (``www.`` variants
included).  Not compared, because they measure time, not the site: ``TIMING_CHECKS``.  Evidence
is not compared either (timings, and a shared probe's ``shared_with`` differ by construction).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab import Lab
from tests.lab.scenarios import SCENARIOS
from tests.test_cli_lab import MODES, lab_sweep
from v6scan.store import Store

pytestmark = pytest.mark.lab

#: checks whose result depends on timing: web.latency compares IPv6 and IPv4 times (a ratio
#: over a threshold is a warn), so a busy moment on the lab's shared cores can tip it
TIMING_CHECKS = frozenset({"web.latency"})


def _answers(db: Path) -> tuple[str, dict[str, tuple[str, dict[str, dict[str, str]]]]]:
    """The sweep's status, and per target its verdict and {check: {name: result}}."""
    out = {}
    with Store(db) as s:
        status = s.sweep(1)["status"]
        for row in s.verdict_rows(1, "default"):
            per = {cid: {n: str(r["result"]) for n, r in c["details"]["names"].items()}
                   for cid, c in row["checks"].items() if cid not in TIMING_CHECKS}
            out[row["name"]] = (row["verdict"], per)
    return status, out


def test_every_execution_mode_gives_the_same_answer(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> None:
    answers = {mode: _answers(lab_sweep(lab, tmp_path_factory, mode)) for mode in MODES}
    reference = answers["one process"][1]
    assert len(reference) == len(SCENARIOS)
    for mode, (status, per_target) in answers.items():
        assert status == "finished", mode
        assert per_target.keys() == reference.keys(), mode
        differ = [f"{mode}: {name}: {per_target[name]} != one process: {reference[name]}"
                  for name in sorted(reference) if per_target[name] != reference[name]]
        assert not differ, "\n".join(differ)
