"""What one migration imported, found already present, and left out (with why)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class Summary:
    """Counts per kind of record (``certificates``, ``revocations``, ...)."""

    imported: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    skipped: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def count(self, kind: str, inserted: bool) -> None:
        """One record of ``kind``: imported now, or present from an earlier run."""
        (self.imported if inserted else self.present)[kind] += 1

    def skip(self, kind: str, reason: str, count: int = 1) -> None:
        self.skipped[kind][reason] += count

    def lines(self) -> list[str]:
        kinds = sorted(set(self.imported) | set(self.present) | set(self.skipped))
        out = []
        for kind in kinds:
            parts = [f"{self.imported[kind]} imported, {self.present[kind]} already present"] \
                if kind in self.imported or kind in self.present else []
            reasons = self.skipped.get(kind)
            if reasons:
                parts.append("not imported: " + ", ".join(f"{n} {why}" for why, n in sorted(reasons.items())))
            out.append(f"{kind}: {'; '.join(parts)}")
        return out or ["nothing to import"]

    @property
    def total_imported(self) -> int:
        return sum(self.imported.values())
