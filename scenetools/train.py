"""Fit a head on frozen features with one algorithm, select a checkpoint, save the model.

Environments come from the records' ``env``; only ``split: train`` records are
trained on.  ``split: val`` records (held out from the training environments
by ``scene-split``) choose the checkpoint by default.  ``split: test`` records
are evaluated at every step *for the log's plots only*; they choose nothing
unless ``select='oracle'`` is asked for, which is labelled as test-camera
peeking wherever it appears.

Selection rules:

- ``val``: the step where the method's own objective, measured on the
  validation records, is lowest (ERM: mean risk; IRM: mean risk + penalty
  weight x IRMv1 penalty; V-REx: risk variance; GroupDRO: worst risk), among
  the steps where that objective is in force (for IRM and V-REx, after the
  penalty's warm-up: before it they are ERM).
- ``val-acc``: the step with the best mean validation accuracy over the
  training environments, among the same steps (DomainBed's rule).
- ``last``: the final step.
- ``oracle``: the step with the best test accuracy (the study's choice; peeks).
"""
from __future__ import annotations

import copy
import datetime
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import __version__
from . import algorithms as algos
from .backbones import PREPROCESS_VERSION
from .errors import BadUsage, DataError
from .model import Model, make_head

SELECTIONS = ("val", "val-acc", "last", "oracle")
SELECTION_LABELS = {"val": "training-camera validation: the method's own objective on held-out records",
                    "val-acc": "training-camera validation: accuracy on held-out records",
                    "last": "last step", "oracle": "oracle: test-camera peeking"}


@dataclass
class Data:
    """Features and labels of a split stream, indexed by environment and split."""
    X: np.ndarray
    y: np.ndarray
    env: np.ndarray
    split: np.ndarray
    classes: list[str]
    ids: list[str]

    def envs(self, split: str) -> list[str]:
        return [str(e) for e in dict.fromkeys(self.env[self.split == split])]

    def index(self, split: str, env: str | None = None) -> np.ndarray:
        m = self.split == split
        if env is not None:
            m &= self.env == env
        return np.nonzero(m)[0]


def prepare(records: list[dict], X: np.ndarray, classes: list[str] | None = None, source: str = "<stream>") -> Data:
    """Check a split stream for training and index it."""
    for n, rec in enumerate(records, 1):
        for key in ("label", "env", "split"):
            if key not in rec:
                raise DataError(f"record {rec.get('id', '?')} has no {key!r} field; scene-train reads the output "
                                "of scene-split", where=f"{source}: record {n}")
        if rec["split"] not in ("train", "val", "test"):
            raise DataError(f"split must be train, val or test, not {rec['split']!r}", where=f"{source}: record {n}")
    labels = [r["label"] for r in records]
    train_labels = [r["label"] for r in records if r["split"] == "train"]
    if not train_labels:
        raise DataError("no records with split 'train'; give scene-split's output", where=source)
    if classes is None:
        classes = sorted(set(train_labels))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"label(s) {', '.join(unknown)} not among the classes {', '.join(classes)}", where=source)
    if len(classes) < 2:
        raise DataError(f"only one class ({classes[0]}) in the training records; a classifier needs two",
                        where=source)
    cidx = {c: i for i, c in enumerate(classes)}
    data = Data(X=X, y=np.array([cidx[lbl] for lbl in labels]), env=np.array([str(r["env"]) for r in records]),
                split=np.array([r["split"] for r in records]), classes=list(classes),
                ids=[str(r.get("id")) for r in records])
    for env in data.envs("train"):
        present = sorted({classes[i] for i in data.y[data.index("train", env)]})
        if len(present) < 2:
            raise DataError(f"training environment {env} has only class {present[0]}; every training environment "
                            "needs every class (IRM compares risks across environments); choose other cameras "
                            "or classes in scene-split", where=source)
    return data


@dataclass
class Checkpoint:
    step: int
    state: dict
    score: float | None = None


@dataclass
class Result:
    algorithm: algos.Algorithm
    head: torch.nn.Module
    checkpoints: dict[str, Checkpoint]
    history: list[dict]
    scaling: dict | None
    data: Data = field(repr=False)

    def model(self, select: str, backbone: str, weights: str | None, weights_id: str, seed: int,
              extra_meta: dict | None = None) -> Model:
        if select not in self.checkpoints:
            raise BadUsage(f"--select {select} is not available: "
                           + ("there are no 'val' records; re-split with --val-frac > 0 or use --select last"
                              if select == "val" else "there are no 'test' records"))
        cp = self.checkpoints[select]
        head = copy.deepcopy(self.head)
        head.load_state_dict(cp.state)
        h = self.history[cp.step]
        meta = {
            "backbone": backbone, "weights": weights, "weights_id": weights_id,
            "preprocess": PREPROCESS_VERSION,
            "feature_dim": int(self.data.X.shape[1]), "classes": self.data.classes,
            "method": self.algorithm.name, "hparams": self.algorithm.hparams, "seed": seed,
            "train_envs": self.data.envs("train"), "val_envs": self.data.envs("val"),
            "test_envs": self.data.envs("test"),
            "train_counts": {e: int(len(self.data.index("train", e))) for e in self.data.envs("train")},
            "selection": {"rule": select, "label": SELECTION_LABELS[select], "step": cp.step,
                          "peeks_at_test": select == "oracle", "select_from": self.algorithm.select_from,
                          "val_acc": h.get("val_acc"), "train_acc": h.get("train_acc_all"),
                          "test_acc": h.get("test_acc_all")},
            "feature_scaling": self.scaling, "scenetools": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        meta.update(extra_meta or {})
        return Model(head=head.eval(), meta=meta)


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    if len(y) == 0:
        return float("nan")
    pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
    return float((pred == y).float().mean())


def train(data: Data, method: str = "irm", hparams: dict | None = None, seed: int = 0, device: str = "cpu",
          on_step=None) -> Result:
    """Train a head on ``data`` with one algorithm; keep the checkpoint of every selection rule."""
    algo = algos.get(method)(hparams)
    hp = algo.hparams
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    X = data.X.astype(np.float32)
    scaling = None
    tr = data.index("train")
    if hp["scale"] == "standardize":
        mean = X[tr].mean(0)
        std = X[tr].std(0) + 1e-6
        X = (X - mean) / std
        scaling = {"mean": mean.tolist(), "std": std.tolist()}
    elif hp["scale"] != "none":
        raise BadUsage(f"scale must be none or standardize, not {hp['scale']!r}")
    Xt = torch.from_numpy(X).to(device)
    yt = torch.from_numpy(data.y).to(device)
    n_out = 1 if len(data.classes) == 2 else len(data.classes)
    head = make_head(X.shape[1], n_out, hp["head"], hp["hidden"]).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=hp["lr"])
    train_envs = data.envs("train")
    env_idx = [torch.from_numpy(data.index("train", e)).to(device) for e in train_envs]
    groups = {"train": {e: torch.from_numpy(data.index("train", e)).to(device) for e in train_envs},
              "val": {e: torch.from_numpy(data.index("val", e)).to(device) for e in data.envs("val")},
              "test": {e: torch.from_numpy(data.index("test", e)).to(device) for e in data.envs("test")}}
    all_idx = {s: torch.from_numpy(data.index(s)).to(device) for s in ("train", "val", "test")}
    history: list[dict] = []
    best: dict[str, Checkpoint] = {}
    select_from = min(algo.select_from, hp["steps"])   # a run shorter than the warm-up still selects

    def evaluate(step, loss, pen, weight):
        with torch.no_grad():
            logits = head(Xt)
            rec = {"step": step, "epoch": step, "method": algo.name, "loss": loss, "penalty": pen,
                   "penalty_weight": weight, "penalty_on": algo.penalty_on(step)}
            for split in ("train", "val", "test"):
                accs = {e: _accuracy(logits[i], yt[i]) for e, i in groups[split].items()}
                rec[f"{split}_acc"] = accs
                if accs:
                    rec[f"{split}_acc_mean"] = float(np.mean(list(accs.values())))
                    rec[f"{split}_acc_all"] = _accuracy(logits[all_idx[split]], yt[all_idx[split]])
            if groups["val"]:
                rec["val_objective"] = algo.validation_objective([logits[i] for i in groups["val"].values()],
                                                                 [yt[i] for i in groups["val"].values()])
            rec["note"] = "test_* figures are for plotting only; selection reads them only with --select oracle"
        return rec

    for step in range(hp["steps"] + 1):
        # record `step` describes the head after `step` updates (step 0: the initial head)
        head.train()
        if hp["batch_size"]:
            batches = [i[torch.randperm(len(i), generator=gen)[:hp["batch_size"]].to(device)] for i in env_idx]
        else:
            batches = env_idx
        logits = [head(Xt[i]) for i in batches]
        loss, pen, weight = algo.objective(logits, [yt[i] for i in batches], step)
        head.eval()
        rec = evaluate(step, float(loss.detach()), float(pen), float(weight))
        history.append(rec)
        if on_step:
            on_step(rec)
        if step >= select_from:
            for rule, key, sign in (("val", "val_objective", -1), ("val-acc", "val_acc_mean", 1),
                                    ("oracle", "test_acc_all", 1)):
                score = rec.get(key)
                if score is None or math.isnan(score):
                    continue
                score *= sign
                if rule not in best or score > best[rule].score:
                    best[rule] = Checkpoint(step, copy.deepcopy(head.state_dict()), score)
        if step == hp["steps"]:
            break
        l2 = sum(p.pow(2).sum() for name, p in head.named_parameters() if "weight" in name)
        total = loss + hp["l2"] * l2 / (weight if weight > 1.0 else 1.0)
        if not math.isfinite(float(total.detach())):
            raise DataError(f"training diverged at step {step}; lower lr or penalty_weight")
        opt.zero_grad()
        total.backward()
        opt.step()
    best["last"] = Checkpoint(hp["steps"], copy.deepcopy(head.state_dict()))
    return Result(algorithm=algo, head=head, checkpoints=best, history=history, scaling=scaling, data=data)


def sweep(data: Data, method: str, grid: list[dict], hparams: dict | None = None, seed: int = 0,
          device: str = "cpu") -> tuple[Result, list[dict]]:
    """Train every configuration of ``grid`` (on top of ``hparams``) and keep the one whose selected
    checkpoint has the lowest validation objective: hyperparameters are chosen on the training
    environments' held-out records, never on the test camera. Returns (best result, one row per config)."""
    if not data.envs("val"):
        raise BadUsage("a sweep chooses on the 'val' records and there are none; re-split with --val-frac > 0")
    best, rows = None, []
    for config in grid or [{}]:
        hp = {**(hparams or {}), **config}
        res = train(data, method, hp, seed=seed, device=device)
        score = res.history[res.checkpoints["val"].step]["val_objective"]
        rows.append({"hparams": config, "val_objective": score, "step": res.checkpoints["val"].step})
        if best is None or score < best[0]:
            best = (score, res)
    return best[1], rows
