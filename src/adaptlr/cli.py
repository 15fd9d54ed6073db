"""The ``adaptlr`` command.

Subcommands are registered in :func:`build_parser`; heavy imports (flax, matplotlib, data
packages) happen inside the subcommand that needs them, never at import time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adaptlr import registry

__all__ = ["build_parser", "format_catalogue", "main"]


def format_catalogue(family: str | None = None) -> str:
    """The registry as a plain-text table."""
    header = ("name", "family", "paper", "needs loss", "state B/param", "reference")
    rows = [header]
    for spec in registry.all_specs():
        if family is not None and spec.family != family:
            continue
        rows.append((
            spec.name,
            spec.family,
            spec.paper.cite() if spec.paper else "-",
            "yes" if spec.needs_value else "no",
            f"{spec.state_bytes_per_param:g}",
            spec.reference_impl or "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    print(format_catalogue(args.family))
    print(f"\n{len(registry.names(args.family))} methods")
    return 0


# --- schedule command ---

# --- lr-find command ---

# --- compare / run / plot commands ---


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptlr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="print the catalogue of registered methods")
    p_list.add_argument("--family", choices=registry.FAMILIES, default=None)
    p_list.set_defaults(func=_cmd_list)
    # --- subcommands added by other modules: one line each, `_add_<name>_command(sub)` ---
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
