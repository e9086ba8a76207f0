"""``python -m ivr_flows check [FLOW ...]``: validate flows (names in ivr_flows/flows/ or paths) against the prompt
catalogue and report prompts whose WAV is missing. Exit code 2 on an invalid flow, 1 on missing prompts."""
from __future__ import annotations

import argparse
import sys

from . import FlowError, load_flow
from .prompts import Catalogue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr_flows")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate flows and look for missing prompt files")
    check.add_argument("flows", nargs="*", default=["default"])
    check.add_argument("--prompt-dir", action="append", default=None,
                       help="prompt dirs to search (default: the [ivr] settings)")
    args = parser.parse_args(argv)
    if args.prompt_dir:
        catalogue = Catalogue(args.prompt_dir)
    else:
        from .settings import load_ivr_settings

        catalogue = Catalogue(load_ivr_settings().prompt_dirs())
    for name in args.flows:
        try:
            flow = load_flow(name, prompt_ids=catalogue.ids())
        except FlowError as exc:
            print(f"invalid: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {len(flow.nodes)} nodes, valid")
    missing = catalogue.missing()
    if missing:
        print(f"{len(missing)} prompts have no WAV (run deploy/assets.d/10-prompts.sh): {', '.join(missing)}",
              file=sys.stderr)
        return 1
    print(f"all {len(catalogue.ids())} prompts have a WAV")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
