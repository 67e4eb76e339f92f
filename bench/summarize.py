"""Turn a pytest-benchmark JSON file into the Markdown table of bench/README.md.

    python -m bench.summarize results.json

Each group's rows show the median and its ratio to the group's first compiled entry.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any


def _unit(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.2f} us"
    return f"{seconds * 1e3:,.2f} ms"


def summarize(data: dict[str, Any]) -> str:
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"] or "-"].append((b["name"], b["stats"]["median"]))
    lines = ["| group | benchmark | median | vs ours |", "|---|---|---:|---:|"]
    for group in sorted(groups):
        rows = groups[group]
        ours = next((m for n, m in rows if "compiled" in n or "cim_router" in n), rows[0][1])
        for name, median in sorted(rows, key=lambda r: r[1]):
            lines.append(f"| {group} | `{name}` | {_unit(median)} | {median / ours:,.2f}x |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as f:
        print(summarize(json.load(f)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
