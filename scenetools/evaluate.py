"""Metrics of a prediction stream, per model and environment.

Rows: every environment; ``train (all)``, the training environments combined
(the study's "combined training accuracy"); and ``val (held out)``, the
validation records alone.  Each row: images, accuracy, the always-majority
baseline (always the training majority class: the study's "always coyote"),
balanced accuracy, per-class precision and recall, macro F1 over the classes
present, and the confusion matrix (rows: true class, columns: predicted).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from .errors import DataError
from .tables import text_table


def metrics(y_true: list[str], y_pred: list[str], classes: list[str], majority: str) -> dict:
    n = len(y_true)
    conf = {t: {p: 0 for p in classes} for t in classes}
    for t, p in zip(y_true, y_pred):
        conf.setdefault(t, {c: 0 for c in classes})
        conf[t][p] = conf[t].get(p, 0) + 1
    correct = sum(t == p for t, p in zip(y_true, y_pred))
    present = [c for c in classes if any(t == c for t in y_true)]
    per_class = {}
    for c in classes:
        tp = conf.get(c, {}).get(c, 0)
        pred_c = sum(conf[t].get(c, 0) for t in conf)
        true_c = sum(conf.get(c, {}).values())
        prec = tp / pred_c if pred_c else 0.0
        rec = tp / true_c if true_c else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[c] = {"precision": prec, "recall": rec, "f1": f1, "support": true_c}
    return {
        "images": n,
        "accuracy": correct / n if n else float("nan"),
        "majority_class": majority,
        "majority_baseline": sum(t == majority for t in y_true) / n if n else float("nan"),
        "balanced_accuracy": (sum(per_class[c]["recall"] for c in present) / len(present)) if present else 0.0,
        "macro_f1": (sum(per_class[c]["f1"] for c in present) / len(present)) if present else 0.0,
        "per_class": per_class,
        "confusion": conf,
    }


def evaluate(records: Iterable[dict], source: str = "<stream>") -> dict:
    """{"models": [...], "rows": [{"model", "env", "role", **metrics}]} for a prediction stream."""
    recs = list(records)
    if not recs:
        raise DataError("empty stream: nothing to evaluate", where=source)
    for n, r in enumerate(recs, 1):
        for key in ("label", "env", "split", "pred"):
            if key not in r:
                raise DataError(f"record {r.get('id', '?')} has no {key!r}; scene-eval reads scene-predict's output",
                                where=f"{source}: record {n}")
    models = list(dict.fromkeys(name for r in recs for name in r["pred"]))
    train_labels = Counter(r["label"] for r in recs if r["split"] == "train")
    all_classes = list(dict.fromkeys([c for r in recs for m in r["pred"].values() for c in m.get("probs", {})]
                                     + [r["label"] for r in recs]))
    majority = (train_labels or Counter(r["label"] for r in recs)).most_common(1)[0][0]
    envs = list(dict.fromkeys(r["env"] for r in recs))
    role = {e: ("test" if all(r["split"] == "test" for r in recs if r["env"] == e) else "train") for e in envs}
    groups = [(e, role[e], [r for r in recs if r["env"] == e]) for e in envs]
    train_recs = [r for r in recs if role[r["env"]] == "train"]
    if sum(1 for e in envs if role[e] == "train") > 1:
        groups.append(("train (all)", "train", train_recs))
    val = [r for r in recs if r["split"] == "val"]
    if val:
        groups.append(("val (held out)", "val", val))
    rows = []
    for name in models:
        for env, rl, rs in groups:
            rs = [r for r in rs if name in r["pred"]]
            if not rs:
                continue
            m = metrics([r["label"] for r in rs], [r["pred"][name]["label"] for r in rs], all_classes, majority)
            rows.append({"model": name, "env": env, "role": rl, **m})
    return {"models": models, "classes": all_classes, "majority_class": majority, "rows": rows}


def table(report: dict) -> str:
    classes = report["classes"]
    head = ["model", "environment", "role", "images", "accuracy", f"always-{report['majority_class']}",
            "balanced", "macro F1", *[f"P/R {c}" for c in classes], "confusion (rows true: " + ", ".join(classes) + ")"]
    rows = []
    for r in report["rows"]:
        conf = " | ".join(" ".join(str(r["confusion"].get(t, {}).get(p, 0)) for p in classes) for t in classes)
        rows.append([r["model"], r["env"], r["role"], str(r["images"]), f"{100 * r['accuracy']:.1f}%",
                     f"{100 * r['majority_baseline']:.1f}%", f"{100 * r['balanced_accuracy']:.1f}%",
                     f"{100 * r['macro_f1']:.1f}%",
                     *[f"{100 * r['per_class'][c]['precision']:.0f}/{100 * r['per_class'][c]['recall']:.0f}"
                       for c in classes], conf])
    return "\n".join(text_table(head, rows))
