"""Images -> the record stream: classes, environments by camera, train/val/test.

Every training camera (or ``+``-joined group of cameras) is one IRM
environment; test cameras are environments too, marked ``split: test``.  A
validation fraction of each training environment, stratified by class and
drawn by sequence so that no sequence straddles train and val, becomes
``split: val``; it is chosen by hashing (seed, sequence) so the result does not
depend on the order of the input.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from .datasets import Dataset, Item
from .errors import BadUsage, DataError, Skips
from .tables import text_table


@dataclass
class EnvSpec:
    name: str
    locations: list[str]
    role: str  # train or test


def parse_envs(train: str, test: str) -> list[EnvSpec]:
    """``"43,46"`` -> two environments; ``"43+100,46"`` groups cameras 43 and 100 into one."""
    specs: list[EnvSpec] = []
    seen: dict[str, str] = {}
    for role, text in (("train", train), ("test", test)):
        groups = [g.strip() for g in (text or "").split(",") if g.strip()]
        if not groups:
            raise BadUsage(f"--{role} needs at least one camera location, e.g. --{role} 43")
        for group in groups:
            locs = [loc.strip() for loc in group.split("+") if loc.strip()]
            for loc in locs:
                if loc in seen:
                    raise BadUsage(f"camera {loc} is named twice (--{seen[loc]} and --{role}); "
                                   "a camera belongs to one environment")
                seen[loc] = role
            specs.append(EnvSpec(name="+".join(locs), locations=locs, role=role))
    return specs


def _hash01(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class EnvStats:
    name: str
    role: str
    locations: list[str]
    counts: Counter = field(default_factory=Counter)
    splits: Counter = field(default_factory=Counter)

    @property
    def images(self) -> int:
        return sum(self.counts.values())


@dataclass
class SplitReport:
    classes: list[str]
    envs: list[EnvStats]
    excluded: Counter
    skips: Skips

    @property
    def train_majority(self) -> str:
        """The class most common in the training environments: what an always-majority model predicts."""
        counts = Counter()
        for env in self.envs:
            if env.role == "train":
                counts.update(env.counts)
        return max(self.classes, key=lambda c: counts[c])

    def table(self) -> str:
        """The study's table: per environment, images, per-class counts, always-majority accuracy.

        The baseline is a model that always predicts the training majority class (the
        study's "always coyote"), applied to every environment, the test one too.
        """
        head = ["environment", "role", "camera", "images", *self.classes, f"always-{self.train_majority}",
                "train", "val", "test"]
        rows = []
        combined = EnvStats("train (all)", "train", [])
        for env in self.envs:
            rows.append(self._row(env))
            if env.role == "train":
                combined.counts.update(env.counts)
                combined.splits.update(env.splits)
                combined.locations += env.locations
        if sum(e.role == "train" for e in self.envs) > 1:
            rows.append(self._row(combined))
        lines = text_table(head, rows)
        if self.excluded:
            lines.append("excluded: " + ", ".join(f"{n} {why}" for why, n in sorted(self.excluded.items())))
        if self.skips.total:
            lines.append(self.skips.summary())
        return "\n".join(lines)

    def _row(self, env: EnvStats) -> list[str]:
        n = env.images
        base = f"{100 * env.counts[self.train_majority] / n:.0f}%" if n else "-"
        return [env.name, env.role, "+".join(env.locations), str(n), *(str(env.counts[c]) for c in self.classes),
                base, str(env.splits["train"]), str(env.splits["val"]), str(env.splits["test"])]

    def as_dict(self) -> dict:
        return {"classes": self.classes,
                "environments": [{"env": e.name, "role": e.role, "locations": e.locations, "images": e.images,
                                  "counts": {c: e.counts[c] for c in self.classes},
                                  "splits": dict(e.splits)} for e in self.envs],
                "excluded": dict(self.excluded), "skipped": self.skips.reasons}


def display_path(path: str) -> str:
    """A path that opens from the current folder: relative when below it, else absolute."""
    path = os.path.abspath(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def make_split(ds: Dataset, classes: list[str] | None, train: str, test: str, val_frac: float = 0.2,
               seed: int = 0, on_error: str = "fail", check_files: bool = True) -> tuple[list[dict], SplitReport]:
    """Choose classes and cameras, assign environments and splits. Returns (records, report)."""
    if not 0 <= val_frac < 1:
        raise BadUsage(f"--val-frac must be in [0, 1), not {val_frac}")
    specs = parse_envs(train, test)
    classes = list(classes) if classes else [c for c in ds.classes if c != "empty"]
    unknown = [c for c in classes if c not in ds.classes]
    if unknown:
        raise BadUsage(f"class(es) {', '.join(unknown)} not in {ds.source}; it has: {', '.join(ds.classes)}")
    locations = sorted({it.location for it in ds.items}, key=_natural)
    env_of: dict[str, EnvSpec] = {}
    for spec in specs:
        for loc in spec.locations:
            if loc not in locations:
                raise BadUsage(f"camera location {loc} is not in {ds.source}; it has: {_listing(locations)}")
            env_of[loc] = spec
    wanted = set(classes)
    skips = Skips(on_error)
    excluded: Counter = Counter()
    stats = OrderedDict((s.name, EnvStats(s.name, s.role, list(s.locations))) for s in specs)
    chosen: list[tuple[Item, EnvSpec]] = []
    for item in ds.items:
        spec = env_of.get(item.location)
        if spec is None:
            excluded["at other cameras"] += 1
            continue
        if item.corrupt:
            excluded["marked corrupt"] += 1
            continue
        if len(item.labels) > 1:
            excluded["with several labels"] += 1
            continue
        if not item.labels:
            excluded["without a label"] += 1
            continue
        if item.labels[0] not in wanted:
            excluded["of other classes"] += 1
            continue
        if check_files and not os.path.isfile(item.path):
            skips.problem(DataError(f"image file {item.path} does not exist; fix the path or pass "
                                    "--on-error skip", where=item.where), "missing image files")
            continue
        chosen.append((item, spec))
    # validation hold-out: per (environment, class), whole sequences, chosen by hash
    val_groups: set[tuple[str, str]] = set()
    if val_frac > 0:
        groups: dict[tuple[str, str], dict[str, None]] = {}
        for item, spec in chosen:
            if spec.role == "train":
                groups.setdefault((spec.name, item.labels[0]), {})[item.group] = None
        for (env, _), members in groups.items():
            ranked = sorted(members, key=lambda g: _hash01(seed, g))
            k = int(round(val_frac * len(ranked)))
            val_groups.update((env, g) for g in ranked[:k])
    records = []
    for item, spec in chosen:
        if spec.role == "test":
            split = "test"
        else:
            split = "val" if (spec.name, item.group) in val_groups else "train"
        label = item.labels[0]
        st = stats[spec.name]
        st.counts[label] += 1
        st.splits[split] += 1
        rec = {"id": item.id, "image": display_path(item.path), "label": label, "location": item.location,
               "env": spec.name, "split": split}
        for key, value in item.extra.items():
            rec[key] = display_path(value) if key == "mask" else value
        records.append(rec)
    report = SplitReport(classes=classes, envs=list(stats.values()), excluded=excluded, skips=skips)
    empty = [s.name for s in stats.values() if s.images == 0]
    if empty:
        raise DataError(f"no usable images of {', '.join(classes)} in environment(s) {', '.join(empty)}"
                        + (f" ({report.skips.summary()})" if skips.total else "")
                        + "; check --classes, --train and --test", where=ds.source)
    return records, report


def _natural(s: str):
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def _listing(values: list[str], most: int = 20) -> str:
    shown = ", ".join(values[:most])
    return shown + (f" ... ({len(values)} in all)" if len(values) > most else "")
