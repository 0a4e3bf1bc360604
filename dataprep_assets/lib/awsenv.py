"""AWS credentials from the environment, accepting the brain-CT seed's `.env` names as aliases.

The seed's `.env` uses `AWS_ACCESS_KEY` / `AWS_SECRET_KEY`; boto3 reads `AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY`. The standard names win when both are set; credentials never leave the process.
"""

from __future__ import annotations

import os

ALIASES = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_KEY"}


def apply_aliases(environ: dict | None = None) -> list[str]:
    """Set each unset standard variable from its alias (in `environ`, default `os.environ`) so that every
    boto3 client of the process sees them; returns the standard names that were filled in."""
    env = os.environ if environ is None else environ
    filled = []
    for standard, alias in ALIASES.items():
        if not env.get(standard) and env.get(alias):
            env[standard] = env[alias]
            filled.append(standard)
    return filled
