"""The study's experiment over seeds, selection rules and camera rotations.

For every rotation (training cameras -> test camera) and seed: split with
that seed (so the held-out validation records change), then for each method
train every configuration of its small grid with that seed (so the
initialisation changes).  The configuration is chosen by the method's own
objective on the validation records, the same rule that chooses the step
under ``--select val``: test labels choose nothing.  The chosen
configuration's checkpoints are then read under each selection rule.
"""
from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

import numpy as np

from . import backbones as bb
from . import datasets, features
from .evaluate import metrics
from .split import make_split
from .tables import text_table
from .train import SELECTION_LABELS, SELECTIONS, prepare, sweep

#: hyperparameter grids searched on training-camera validation (penalty weight fixed, so objectives compare)
GRIDS = {
    "erm": {"l2": [1e-3, 1e-2]},
    "irm": {"l2": [1e-3, 1e-2], "anneal_steps": [20, 40, 100]},
    "vrex": {"l2": [1e-3, 1e-2], "anneal_steps": [20, 40, 100]},
    "groupdro": {"l2": [1e-3, 1e-2]},
}


def grid(method: str) -> list[dict]:
    g = GRIDS.get(method, {})
    keys = list(g)
    return [dict(zip(keys, values)) for values in itertools.product(*(g[k] for k in keys))]


@dataclass
class Row:
    rotation: str
    test_env: str
    method: str
    seed: int
    select: str
    hparams: dict
    step: int
    val_objective: float
    train_acc: float
    test_acc: float
    test_balanced: float

    def as_dict(self):
        return self.__dict__.copy()


def run(data_path: str, classes: list[str], rotations: list[tuple[str, str]], seeds: list[int],
        methods: list[str], backbone: str = "tf_efficientnet_lite0", weights: str | None = None,
        cache_dir: str | None = None, val_frac: float = 0.2, on_row=None, log=print) -> list[Row]:
    ds = datasets.load(data_path)
    bbone = bb.get(backbone)
    rows: list[Row] = []
    for train_spec, test_spec in rotations:
        rotation = f"{train_spec} -> {test_spec}"
        for seed in seeds:
            records, _ = make_split(ds, classes, train_spec, test_spec, val_frac=val_frac, seed=seed)
            X, ok, st = features.for_records(records, bbone, weights=weights, cache_dir=cache_dir)
            data = prepare(records, X)
            in_train_envs = np.isin(data.split, ["train", "val"])
            test = data.split == "test"
            truth = np.array(data.classes)[data.y]
            for method in methods:
                res, _ = sweep(data, method, grid(method), seed=seed)
                hp = {k: res.algorithm.hparams[k] for k in GRIDS.get(method, {})}
                score = res.history[res.checkpoints["val"].step]["val_objective"]
                for rule in SELECTIONS:
                    model = res.model(rule, backbone, weights, bbone.weights_id(weights), seed)
                    pred = np.array(model.classes)[model.proba(data.X).argmax(1)]
                    m_tr = metrics(list(truth[in_train_envs]), list(pred[in_train_envs]), data.classes, data.classes[0])
                    m_te = metrics(list(truth[test]), list(pred[test]), data.classes, data.classes[0])
                    row = Row(rotation, test_spec, method, seed, rule, hp, res.checkpoints[rule].step, score,
                              m_tr["accuracy"], m_te["accuracy"], m_te["balanced_accuracy"])
                    rows.append(row)
                    if on_row:
                        on_row(row)
            log(f"  {rotation} seed {seed}: done")
    return rows


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def summary(rows: list[Row], backbone: str) -> str:
    """One table per rotation: mean ± std over seeds, per method and selection rule."""
    out = []
    for rotation in dict.fromkeys(r.rotation for r in rows):
        rs = [r for r in rows if r.rotation == rotation]
        n = len({r.seed for r in rs})
        out.append(f"\n{rotation}  (backbone {backbone}, linear head, {n} seeds, mean ± std, %)")
        head = ["method", "selection", "train cameras acc", "test camera acc", "test balanced acc", "steps chosen"]
        table = []
        for method in dict.fromkeys(r.method for r in rs):
            for rule in SELECTIONS:
                sel = [r for r in rs if r.method == method and r.select == rule]
                if not sel:
                    continue
                table.append([method, SELECTION_LABELS[rule].split(":")[0] if rule != "val-acc" else "val accuracy",
                              _ms([r.train_acc for r in sel]), _ms([r.test_acc for r in sel]),
                              _ms([r.test_balanced for r in sel]), ",".join(str(r.step) for r in sel)])
        out += text_table(head, table)
    return "\n".join(out)
