"""The chart of docs/performance.md: our dashboard against each peer, from
the JSON that bench/load.py writes.

.venv-bench/bin/python bench/chart.py bench/results/load-DATE.json docs/performance-peers.png

Needs matplotlib (bench/requirements.txt).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a file, no window
import matplotlib.pyplot as plt


def draw(run: dict, out: Path) -> None:
    table = run["table"]
    labels = [line["peer"] for line in table]
    rows = range(len(table))
    figure, axes = plt.subplots(figsize=(10, 0.5 * len(table) + 1.8), dpi=120)
    axes.barh(rows, [line["cpu"] for line in table], height=0.6, color="#4c72b0", label="by CPU per answer")
    counted = [(row, line["instructions"]) for row, line in zip(rows, table, strict=True) if line.get("instructions")]
    if counted:
        axes.scatter(
            [value for _, value in counted],
            [row for row, _ in counted],
            marker="D",
            color="#dd8452",
            zorder=3,
            label="by instructions (callgrind)",
        )
    for row, line in zip(rows, table, strict=True):
        right = max(line["cpu"], line.get("instructions") or 0)  # past the diamond, if any
        axes.text(right + 0.03, row, f"{line['cpu']:.2f}", va="center", fontsize=9)
    axes.axvline(1, color="black", linewidth=1)
    axes.set_yticks(list(rows), labels, fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel("ours ÷ peer: above 1, our dashboard uses less per answer")
    axes.set_title(f"Our dashboard against its peers, {run['date']} ({run['runs']})\n{run['machine']}", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    axes.set_xlim(0, max(line["cpu"] for line in table) * 1.12)
    figure.savefig(out, bbox_inches="tight")


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
