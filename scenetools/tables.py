"""Plain-text tables for the humans reading stderr and scene-eval's output."""
from __future__ import annotations


def text_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, a rule under the header; returns the lines."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return lines
