"""Fault injection for crash tests: SIGKILL this process at a named point of a dataset write.

`DATAPREP_CRASH_AT=<point>[:<n>]` kills the process (SIGKILL: no cleanup, no `finally`) the n-th time
(default 1) it reaches `point` in this process. The points, in the order of one write (`common.store`):

- `staged`: the dataset is fully written in its staging file/directory, nothing stored yet;
- `object`: after storing one object (file) of the version;
- `record`: after the version is recorded (the commit point), before its view is swapped in;
- `swap`: after the view is swapped in, before the `_manifests` pointer is updated;
- `pointer`: after the pointer, before the version is published beyond this machine.

Unset (always, outside crash tests) it costs one environment lookup per point.
"""

from __future__ import annotations

import os
import signal

ENV = "DATAPREP_CRASH_AT"
POINTS = ("staged", "object", "record", "swap", "pointer")
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here if `DATAPREP_CRASH_AT` names this point and this is its n-th hit."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
