"""`python -m dataprep_assets`: list, check out, verify and garbage-collect dataset versions."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from dataprep_assets import versions
from dataprep_assets.lib.versions import CorruptObjectError, VersionError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dataprep_assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="versions of a dataset or asset (every dataset's latest without a name)")
    listing.add_argument("name", nargs="?", help="dataset path (data/cell_crops) or asset key (cell_crops)")
    for command, text in (
        ("checkout", "restore a version byte for byte"),
        ("verify", "hash every object of a version"),
    ):
        p = sub.add_parser(command, help=text)
        p.add_argument(
            "name",
            nargs="?" if command == "verify" else None,
            help="dataset path or asset key (a release restores every version it pins)"
            + ("; none: check the whole store (views, objects, debris)" if command == "verify" else ""),
        )
        which = p.add_mutually_exclusive_group()
        which.add_argument("--version", help="version id (or a prefix of it or of its content hash); default: latest")
        which.add_argument("--run", dest="run_id", help="the Dagster run id (or prefix) that wrote it")
        if command == "checkout":
            p.add_argument("--to", required=True, help="directory to restore into (the store's layout below it)")
            p.add_argument(
                "--link", action="store_true", help="hard-link verified objects instead of copying (same file system)"
            )
    sub.add_parser("repair", help="put every view back to its latest version, clear killed writers' debris")
    gc = sub.add_parser("gc", help="drop versions the retention policy lets go, then unreferenced objects")
    gc.add_argument(
        "--keep-last", type=int, help="newest versions kept per dataset (env DATAPREP_KEEP_LAST, default 10)"
    )
    gc.add_argument(
        "--keep-days", type=float, help="keep every version younger than this (env DATAPREP_KEEP_DAYS, default 30)"
    )
    gc.add_argument("--grace-hours", type=float, help="keep unreferenced objects younger than this (default 1)")
    gc.add_argument("--dry-run", action="store_true", help="report what would be freed, delete nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            frame = versions.list_versions(args.name)
            with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
                print(frame.to_string(index=False) if len(frame) else "(no versions yet)")
        elif args.command == "checkout":
            for path in versions.checkout(args.name, args.to, args.version, args.run_id, link=args.link):
                print(path)
        elif args.command == "verify" and args.name is None:
            problems = versions.check_store()
            for line in problems:
                print(line)
            if problems:
                return 1
            print("ok: every dataset's latest version is whole and is its current view; no debris")
        elif args.command == "verify":
            print(f"ok: {versions.verify(args.name, args.version, args.run_id)} files match their SHA-256")
        elif args.command == "repair":
            print("\n".join(f"repaired {d}" for d in versions.repair()) or "nothing to repair")
        else:
            policy = versions.retention_policy(args.keep_last, args.keep_days, args.grace_hours)
            report = versions.default_store().gc(policy, dry_run=args.dry_run)
            print(report.summary())
            for name in report.versions_dropped:
                print(f"  {'would drop' if args.dry_run else 'dropped'} {name}")
    except (VersionError, CorruptObjectError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
