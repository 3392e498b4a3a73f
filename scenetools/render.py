"""The Scene site: a guided tour and a page of every image, built from the stream.

``render(records, out_dir)`` writes a static site that works offline (no CDN,
relative paths, opens from ``file://``):

- ``index.html``: the guided tour in the study's order, every number computed
  from the records (and the training logs for the curves);
- ``all.html``: every image as a card, grouped by environment, with filters
  (environment, true class, each model right or wrong, models disagreeing),
  sorting (certainty, surrogate agreement) and live counts;
- ``img/``, ``plots/``: the views, superpixel outlines, top-k views and
  matplotlib plots.  Images are written once: a rebuild skips every asset
  whose sources and settings have not changed (``assets.json`` holds their
  signatures).
"""
from __future__ import annotations

import html
import json
import os
import shutil
import time
from collections import Counter, OrderedDict

import numpy as np
from PIL import Image

from . import backbones as bb
from . import explain
from .evaluate import evaluate

ENV_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
STATIC = os.path.join(os.path.dirname(__file__), "site")
THUMB = 224


def _safe(rec_id: str) -> str:
    return explain.safe_name(str(rec_id))


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}%"


class Assets:
    """Writes images under the site once; reuses them while their signature is unchanged."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.path = os.path.join(out_dir, "assets.json")
        try:
            with open(self.path) as fh:
                self.sigs = json.load(fh)
        except (OSError, ValueError):
            self.sigs = {}
        self.written = 0
        self.reused = 0

    @staticmethod
    def signature(*parts) -> str:
        out = []
        for p in parts:
            if isinstance(p, str) and os.path.exists(p):
                st = os.stat(p)
                out.append(f"{os.path.abspath(p)}:{st.st_size}:{st.st_mtime_ns}")
            else:
                out.append(json.dumps(p, sort_keys=True))
        return "|".join(out)

    def need(self, rel: str, sig: str) -> bool:
        if self.sigs.get(rel) == sig and os.path.exists(os.path.join(self.out_dir, rel)):
            self.reused += 1
            return False
        return True

    def save(self, rel: str, sig: str, img: np.ndarray | Image.Image, quality: int = 85) -> None:
        path = os.path.join(self.out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        im = img if isinstance(img, Image.Image) else Image.fromarray(img)
        tmp = path + ".tmp"
        if rel.endswith(".png"):
            im.save(tmp, format="PNG", optimize=True)
        else:
            im.convert("RGB").save(tmp, format="JPEG", quality=quality)
        os.replace(tmp, path)
        self.sigs[rel] = sig
        self.written += 1

    def close(self) -> None:
        from .stream import write_json

        write_json(self.path, self.sigs)


def outlines(view: np.ndarray, segments: np.ndarray) -> np.ndarray:
    from skimage.segmentation import mark_boundaries

    return (mark_boundaries(view, segments, color=(1, 1, 0)) * 255).astype(np.uint8)


def top_view(view: np.ndarray, segments: np.ndarray, top: list[int]) -> np.ndarray:
    """The top superpixels in colour; the rest greyed out."""
    keep = np.isin(segments, top)
    grey = view.mean(axis=2, keepdims=True) * 0.35 + 150
    out = np.where(keep[..., None], view, grey).astype(np.uint8)
    from skimage.segmentation import find_boundaries

    edge = find_boundaries(np.where(keep, segments, -1), mode="inner") & keep
    out[edge] = (255, 230, 0)
    return out


def animal_share(rec: dict, segments: np.ndarray, top: list[int]) -> float | None:
    """Share of the top superpixels' area on the animal (mask if the record has one, else its boxes)."""
    keep = np.isin(segments, top)
    if not keep.any():
        return None
    if rec.get("mask") and os.path.exists(rec["mask"]):
        animal = np.asarray(Image.open(rec["mask"]).convert("L")) > 0
        if animal.shape != segments.shape:
            animal = bb.to_view(np.repeat(animal[..., None].astype(np.uint8) * 255, 3, 2))[..., 0] > 127
    elif rec.get("boxes") and rec.get("width") and rec.get("height"):
        animal = np.zeros((rec["height"], rec["width"]), bool)
        for b in rec["boxes"]:
            x, y, w, h = (int(round(v)) for v in b["bbox"])
            animal[max(y, 0):y + h, max(x, 0):x + w] = True
        animal = bb.to_view(np.repeat(animal[..., None].astype(np.uint8) * 255, 3, 2))[..., 0] > 127
    else:
        return None
    return float((keep & animal).sum() / keep.sum())


def _plot_curves(logs: dict[str, list[dict]], path: str) -> dict:
    """Per-step accuracy of every model (training environments, validation, test), IRM penalty start marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(5.2 * len(logs), 3.6), sharey=True, squeeze=False)
    info = {}
    for ax, (name, log) in zip(axes[0], logs.items()):
        steps = [r["step"] for r in log]
        for key, style, label in (("train_acc_all", "-", "training environments"), ("val_acc_all", "--", "validation"),
                                  ("test_acc_all", ":", "test environment")):
            ys = [r.get(key) for r in log]
            if any(y is not None for y in ys):
                ax.plot(steps, [100 * y if y is not None else np.nan for y in ys], style, label=label)
        on = [r["step"] for r in log if r.get("penalty_on") and r.get("penalty_weight", 0) > 1]
        if on:
            ax.axvline(on[0], color="crimson", lw=1)
            ax.text(on[0], 3, f" penalty on (step {on[0]})", color="crimson", fontsize=8)
            info[name] = on[0]
        ax.set_title(f"{name} ({log[0].get('method', name)})")
        ax.set_xlabel("epoch (full-batch step)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return info


def _plot_accuracy(report: dict, models: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r["env"] != "val (held out)"]
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(envs), 3.2))
    width = 0.8 / (len(models) + 1)
    for i, m in enumerate(models):
        vals = [next((100 * r["accuracy"] for r in rows if r["model"] == m and r["env"] == e), 0) for e in envs]
        ax.bar(np.arange(len(envs)) + i * width, vals, width, label=m)
    base = [next((100 * r["majority_baseline"] for r in rows if r["env"] == e), 0) for e in envs]
    ax.bar(np.arange(len(envs)) + len(models) * width, base, width, label=f"always {report['majority_class']}",
           color="#bbbbbb")
    ax.set_xticks(np.arange(len(envs)) + width * len(models) / 2, envs)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render(records: list[dict], out_dir: str, logs: dict[str, list[dict]] | None = None, top_k: int = 9,
           title: str = "Scene", progress=None) -> dict:
    """Write the site. Returns a summary: images, assets written and reused, seconds, bytes."""
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    for sub in ("style.css", "all.js"):
        shutil.copyfile(os.path.join(STATIC, sub), os.path.join(out_dir, sub))
    assets = Assets(out_dir)
    models = list(dict.fromkeys(n for r in records for n in (r.get("pred") or {})))
    letters = _letters(models)
    envs = list(dict.fromkeys(r["env"] for r in records))
    env_role = {e: ("test" if all(r["split"] == "test" for r in records if r["env"] == e) else "train") for e in envs}
    envs.sort(key=lambda e: env_role[e] == "test")
    colour = {e: ENV_COLOURS[i % len(ENV_COLOURS)] for i, e in enumerate(envs)}
    report = evaluate(records) if models else {"rows": [], "majority_class": "", "classes": [], "models": []}
    cards, items = [], []
    shares: dict[tuple[str, str], list[float]] = {}
    for n, rec in enumerate(records):
        item = _assets_for(rec, models, assets, top_k)
        items.append(item)
        for m, share in item["share"].items():
            if share is not None:
                shares.setdefault((rec["env"], m), []).append(share)
        if progress:
            progress(1)
    for rec, item in zip(records, items):
        cards.append(_card(rec, item, models, letters, colour))
    # pages
    plots = {}
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    if logs:
        plots["curves"] = _plot_curves(logs, os.path.join(out_dir, "plots", "curves.png"))
    if models:
        _plot_accuracy(report, models, os.path.join(out_dir, "plots", "accuracy.png"))
    ctx = dict(records=records, items=items, cards=cards, models=models, letters=letters, envs=envs,
               env_role=env_role, colour=colour, report=report, shares=shares, plots=plots, top_k=top_k,
               title=title, assets=assets, logs=logs or {})
    _write(out_dir, "index.html", _tour(ctx))
    _write(out_dir, "all.html", _all_page(ctx))
    assets.close()
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out_dir) for f in fs)
    return {"images": len(records), "explained": sum(1 for i in items if i["seg"]), "written": assets.written,
            "reused": assets.reused, "seconds": time.perf_counter() - start, "bytes": size}


def _letters(models: list[str]) -> dict[str, str]:
    first = [m[:1].upper() for m in models]
    if len(set(first)) == len(first):
        return dict(zip(models, first))
    return {m: m for m in models}


def _assets_for(rec: dict, models: list[str], assets: Assets, top_k: int) -> dict:
    safe = _safe(rec["id"])
    item = {"img": f"img/{safe}.jpg", "seg": None, "count": None, "top": {}, "share": {}}
    sig = assets.signature(rec["image"], "view-v1")
    view = None
    if assets.need(item["img"], sig):
        view = bb.load_view(rec["image"])
        assets.save(item["img"], sig, view)
    sp = rec.get("superpixels")
    lime = rec.get("lime") or {}
    if not sp or not os.path.exists(sp.get("map", "")):
        return item
    segments = None

    def get_view_and_segments():
        nonlocal view, segments
        if view is None:
            view = bb.load_view(rec["image"])
        if segments is None:
            segments = explain.load_segments(sp["map"])
        return view, segments

    item["count"] = sp["count"]
    item["seg"] = f"img/{safe}-seg.jpg"
    sig = assets.signature(rec["image"], sp["map"], "seg-v1")
    if assets.need(item["seg"], sig):
        v, s = get_view_and_segments()
        assets.save(item["seg"], sig, outlines(v, s))
    for m in models:
        if m not in lime:
            continue
        top = lime[m]["top"][:top_k]
        rel = f"img/{safe}-{_safe(m)}-top.jpg"
        sig = assets.signature(rec["image"], sp["map"], top, "top-v1")
        if assets.need(rel, sig):
            v, s = get_view_and_segments()
            assets.save(rel, sig, top_view(v, s, top))
        item["top"][m] = rel
        if rec.get("mask") or rec.get("boxes"):
            _, s = get_view_and_segments()
            item["share"][m] = animal_share(rec, s, top)
    return item


def _card(rec, item, models, letters, colour) -> str:
    pred = rec.get("pred") or {}
    lime = rec.get("lime") or {}
    attrs = {"env": rec["env"], "label": rec["label"], "split": rec["split"], "id": rec["id"]}
    preds_html = []
    for m in models:
        p = pred.get(m)
        if not p:
            continue
        right = p["label"] == rec["label"]
        attrs[f"right-{m}"] = "1" if right else "0"
        attrs[f"p-{m}"] = f"{p['p']:.4f}"
        if m in lime:
            attrs[f"gap-{m}"] = f"{lime[m]['gap']:.4f}"
        preds_html.append(
            f'<div class="pred {"right" if right else "wrong"}"><b>{_esc(letters[m])}</b> {_esc(p["label"])}'
            f'<span class="bar"><span style="width:{100 * p["p"]:.0f}%"></span></span>'
            f'<span class="p">{100 * p["p"]:.0f}%</span></div>')
    labels = {pred[m]["label"] for m in models if m in pred}
    attrs["disagree"] = "1" if len(labels) > 1 else "0"
    attrs["explained"] = "1" if item["seg"] else "0"
    views = [f'<figure><img src="{item["img"]}" width="112" height="112" loading="lazy" alt="image {_esc(rec["id"])}">'
             f'<figcaption>image</figcaption></figure>']
    if item["seg"]:
        views.append(f'<figure><img src="{item["seg"]}" width="112" height="112" loading="lazy" alt="superpixels">'
                     f'<figcaption>{item["count"]} superpixels</figcaption></figure>')
        for m in models:
            if m in item["top"]:
                e = lime[m]
                views.append(f'<figure><img src="{item["top"][m]}" width="112" height="112" loading="lazy" '
                             f'alt="{_esc(m)} top superpixels"><figcaption>{_esc(letters[m])}: top {len(e["top"])} '
                             f'· LIME {e["local_pred"]:.2f} vs model {e["model_p"]:.2f}</figcaption></figure>')
    else:
        views.append('<figure class="none"><div>not explained</div><figcaption>run scene-lime</figcaption></figure>')
    data = " ".join(f'data-{k}="{_esc(v)}"' for k, v in attrs.items())
    return (f'<article class="card" {data}><header><span class="env" style="background:{colour[rec["env"]]}">'
            f'env {_esc(rec["env"])}</span> <span class="id">{_esc(rec["id"])}</span> '
            f'<span class="truth">{_esc(rec["label"])}</span></header><div class="views">{"".join(views)}</div>'
            f'<div class="preds">{"".join(preds_html)}</div></article>')


def _write(out_dir: str, name: str, text: str) -> None:
    from .stream import atomic_write

    with atomic_write(os.path.join(out_dir, name)) as fh:
        fh.write(text)


def _page(title: str, body: str, script: str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{_esc(title)}</title>'
            f'<link rel="stylesheet" href="style.css"></head><body>{body}{script}</body></html>')


def _acc_table(ctx, roles: tuple) -> str:
    rows = [r for r in ctx["report"]["rows"] if r["role"] in roles]
    envs = list(dict.fromkeys(r["env"] for r in rows))
    head = "".join(f"<th>{_esc(m)}</th>" for m in ctx["models"])
    body = []
    for e in envs:
        cells = []
        base = None
        for m in ctx["models"]:
            r = next((r for r in rows if r["env"] == e and r["model"] == m), None)
            if r:
                base = r["majority_baseline"]
                cells.append(f'<td data-model="{_esc(m)}" data-env="{_esc(e)}" data-metric="accuracy">'
                             f'{_pct(r["accuracy"])}</td>')
            else:
                cells.append("<td>–</td>")
        n = next((r["images"] for r in rows if r["env"] == e), 0)
        body.append(f"<tr><th>{_esc(e)}</th><td>{n}</td>{''.join(cells)}<td>{_pct(base)}</td></tr>")
    return (f'<table class="acc"><tr><th>environment</th><th>images</th>{head}<th>always '
            f'{_esc(ctx["report"]["majority_class"])}</th></tr>{"".join(body)}</table>')


def _sample_cards(ctx, pred, n: int) -> str:
    """n cards of records matching ``pred``, explained ones first, spread over the stream."""
    idx = [i for i, r in enumerate(ctx["records"]) if pred(r) and ctx["items"][i]["seg"]]
    if len(idx) < n:
        idx += [i for i, r in enumerate(ctx["records"]) if pred(r) and not ctx["items"][i]["seg"]]
    pick = idx[:: max(1, len(idx) // n)][:n] if idx else []
    return '<div class="cards">' + "".join(ctx["cards"][i] for i in pick) + "</div>"


def _tour(ctx) -> str:
    records, models, envs, colour = ctx["records"], ctx["models"], ctx["envs"], ctx["colour"]
    classes = list(dict.fromkeys(r["label"] for r in records))
    counts = {e: Counter(r["label"] for r in records if r["env"] == e) for e in envs}
    train_envs = [e for e in envs if ctx["env_role"][e] == "train"]
    test_envs = [e for e in envs if ctx["env_role"][e] == "test"]
    sec = []
    # 1 training environments
    rows = "".join(f'<tr><td><span class="env" style="background:{colour[e]}">env {_esc(e)}</span></td>'
                   f'<td>{ctx["env_role"][e]}</td><td>{sum(counts[e].values())}</td>'
                   + "".join(f"<td>{counts[e][c]}</td>" for c in classes) + "</tr>" for e in envs)
    strips = "".join(
        f'<div class="strip"><span class="env" style="background:{colour[e]}">env {_esc(e)}</span>'
        + "".join(f'<figure><img src="{it["img"]}" width="112" height="112" alt="{_esc(r["id"])}">'
                  f'<figcaption>{_esc(r["label"])}</figcaption></figure>'
                  for r, it in list((r, it) for r, it in zip(records, ctx["items"]) if r["env"] == e)[:6])
        + "</div>" for e in envs)
    sec.append(("environments", "1. Training environments",
                f"<p>Each camera is one environment: its background stays the same while the animals and the time of "
                f"day change. Models are trained on environments {', '.join(map(_esc, train_envs))} and tested on "
                f"{', '.join(map(_esc, test_envs)) or '–'}, which they never see.</p>{strips}"
                f'<table class="counts"><tr><th>environment</th><th>role</th><th>images</th>'
                + "".join(f"<th>{_esc(c)}</th>" for c in classes) + f"</tr>{rows}</table>"))
    # 2 training
    curves = ""
    if "curves" in ctx["plots"]:
        starts = ", ".join(f"{_esc(m)}: step {s}" for m, s in ctx["plots"]["curves"].items())
        curves = (f'<img class="plot" src="plots/curves.png" alt="accuracy per epoch">'
                  f"<p>The red line marks where the IRM penalty switches on ({starts}). The test curve is drawn "
                  f"for the reader only: no model was chosen by it unless its file says 'oracle'.</p>")
    else:
        curves = "<p>(No training logs were given: pass <code>--log NAME=FILE</code> to draw the curves.)</p>"
    sec.append(("training", "2. Model training",
                "<p>Both models are a linear layer on the same frozen ImageNet backbone. <b>ERM</b> minimises the "
                "average error over all training images. <b>IRM</b> adds a penalty for every environment whose "
                "error could still be lowered by rescaling the model's output: it asks for a classifier that is "
                "optimal in every environment at once, so features whose usefulness differs between cameras "
                f"(the background, the time of day) lose weight.</p>{curves}"))
    # 3 / 4 results
    legend = ("<p>Reading the classifications: each model's prediction is marked with its letter "
              + ", ".join(f"<b>{_esc(l)}</b> ({_esc(m)})" for m, l in ctx["letters"].items())
              + "; green when right, red when wrong; the bar is the model's certainty.</p>")
    sec.append(("results-train", "3. Results: training environments",
                f"{_acc_table(ctx, ('train',))}{legend}"
                + _sample_cards(ctx, lambda r: ctx["env_role"][r["env"]] == "train", 4)))
    sec.append(("results-test", "4. Results: test environment",
                f"{_acc_table(ctx, ('test',))}"
                + ('<img class="plot" src="plots/accuracy.png" alt="accuracy per environment">' if models else "")
                + _sample_cards(ctx, lambda r: ctx["env_role"][r["env"]] == "test", 4)
                + _summary(ctx)))
    # 5 interpretability, 6 ranking, 7 comparison
    explained = [(r, it) for r, it in zip(records, ctx["items"]) if it["seg"]]
    if explained:
        r, it = _pick_example(explained, models)
        view, segments = bb.load_view(r["image"]), explain.load_segments(r["superpixels"]["map"])
        sec.append(("interpretability", "5. Interpretability", _interpretability(ctx, r, it, view, segments)))
        sec.append(("ranking", "6. Ranking superpixels", _ranking(ctx, r, view, segments)))
        sec.append(("comparison", "7. Model comparison", _comparison(ctx, explained)))
    else:
        for key, name in (("interpretability", "5. Interpretability"), ("ranking", "6. Ranking superpixels"),
                          ("comparison", "7. Model comparison")):
            sec.append((key, name, "<p>No record in this stream is explained yet: run <code>scene-lime</code>.</p>"))
    sec.append(("all", "8. View all",
                f'<p><a href="all.html">All {len(records)} images</a>, with each model\'s classification and ranked '
                f"superpixels, filters and sorting.</p>"))
    nav = "".join(f'<li><a href="#{k}">{_esc(t)}</a></li>' for k, t, _ in sec)
    body = "".join(f'<section id="{k}"><h2>{_esc(t)}</h2>{b}</section>' for k, t, b in sec)
    return _page(ctx["title"], f'<header class="top"><h1>{_esc(ctx["title"])}</h1><p>Invariant risk minimisation '
                               f'on camera traps, model by model, image by image.</p><ul class="nav">{nav}</ul>'
                               f'</header><main class="tour">{body}</main>')


def _pick_example(explained, models):
    """The image whose models' top superpixels differ most (the study's 3-433 role)."""
    def jaccard(r):
        tops = [set(r["lime"][m]["top"]) for m in models if m in r.get("lime", {})]
        if len(tops) < 2:
            return 1.0
        return len(tops[0] & tops[1]) / max(1, len(tops[0] | tops[1]))
    preferred = [x for x in explained if x[0]["id"] == "scene-3-433"]
    return preferred[0] if preferred else min(explained, key=lambda x: (jaccard(x[0]), str(x[0]["id"])))


def _interpretability(ctx, rec, item, view, segments) -> str:
    sp = rec["superpixels"]
    assets = ctx["assets"]
    fudged = explain.mean_colour_image(view, segments)
    rows = explain.perturbations(sp["count"], 5, explain.image_seed(sp.get("seed", 0), rec["id"]))[1:5]
    figs = []
    for i, img in enumerate(explain.masked_images(view, fudged, segments, rows)):
        rel = f"img/{_safe(rec['id'])}-perturbed-{i}.jpg"
        sig = assets.signature(rec["image"], sp["map"], rows[i].tolist(), "perturb-v1")
        if assets.need(rel, sig):
            assets.save(rel, sig, img)
        figs.append(f'<figure><img src="{rel}" width="168" height="168" alt="perturbation {i + 1}">'
                    f"<figcaption>{int(rows[i].sum())} of {sp['count']} on</figcaption></figure>")
    return (f"<p>LIME splits image {_esc(rec['id'])} into <b>{sp['count']}</b> superpixels "
            f"({_esc(sp['segmenter'])}), masks random combinations of them ({sp['num_samples']} perturbed copies, "
            f"masked superpixels filled with their mean colour), asks each model about every copy, and fits a "
            f"weighted linear model that says how much each superpixel pushes the prediction.</p>"
            f'<div class="row"><figure><img src="{item["img"]}" width="224" height="224" alt="whole image">'
            f'<figcaption>the image</figcaption></figure><figure><img src="{item["seg"]}" width="224" height="224" '
            f'alt="superpixel outlines"><figcaption>{sp["count"]} superpixels</figcaption></figure></div>'
            f'<div class="row">{"".join(figs)}</div>')


def _ranking(ctx, rec, view, segments) -> str:
    assets = ctx["assets"]
    rows = []
    for m in ctx["models"]:
        e = rec["lime"].get(m)
        if not e:
            continue
        positive = [s for s, w in e["ranking"] if w > 0]
        figs = []
        for k in (3, 6, 9, 12):
            rel = f"img/{_safe(rec['id'])}-{_safe(m)}-k{k}.jpg"
            sig = assets.signature(rec["image"], rec["superpixels"]["map"], positive[:k], "top-v1")
            if assets.need(rel, sig):
                assets.save(rel, sig, top_view(view, segments, positive[:k]))
            figs.append(f'<figure><img src="{rel}" width="168" height="168" alt="{_esc(m)} top {k}">'
                        f"<figcaption>top {k}</figcaption></figure>")
        rows.append(f'<div class="row"><div class="rowlabel"><b>{_esc(m)}</b><br>predicts {_esc(e["label"])} '
                    f'({100 * e["model_p"]:.0f}%)<br>LIME says {100 * e["local_pred"]:.0f}%, R² {e["score"]:.2f}</div>'
                    f'{"".join(figs)}</div>')
    return (f"<p>The superpixels of {_esc(rec['id'])} (true label: {_esc(rec['label'])}) ranked by how much they push "
            f"each model towards its prediction: the top 3, 6, 9 and 12. Explanations deserve more trust when "
            f"LIME's local prediction is close to the model's own.</p>{''.join(rows)}")


def _comparison(ctx, explained) -> str:
    models = ctx["models"]
    if len(models) < 2:
        return "<p>One model only: nothing to compare.</p>"
    a, b = models[:2]

    def overlap(r):
        ta, tb = set(r["lime"].get(a, {}).get("top", [])), set(r["lime"].get(b, {}).get("top", []))
        return len(ta & tb) / max(1, len(ta | tb))
    ranked = sorted(explained, key=lambda x: (overlap(x[0]), str(x[0]["id"])))
    idx = {id(r): i for i, r in enumerate(ctx["records"])}
    cards = "".join(ctx["cards"][idx[id(r)]] for r, _ in ranked[:6])
    mean = np.mean([overlap(r) for r, _ in explained])
    return (f"<p>Images where {_esc(a)} and {_esc(b)} highlight the most different superpixels (lowest overlap of "
            f"their top superpixels). Over the {len(explained)} explained images the mean overlap (intersection over "
            f"union) is <b>{mean:.2f}</b>: no single pattern holds for every image.</p><div class='cards'>{cards}</div>")


def _summary(ctx) -> str:
    models = ctx["models"]
    if len(models) < 2:
        return ""
    a, b = models[:2]
    rows = []
    for e in ctx["envs"]:
        rs = [r for r in ctx["records"] if r["env"] == e and a in r.get("pred", {}) and b in r.get("pred", {})]
        ra = [r["pred"][a]["label"] == r["label"] for r in rs]
        rb = [r["pred"][b]["label"] == r["label"] for r in rs]
        only_b = sum(1 for x, y in zip(ra, rb) if y and not x)
        only_a = sum(1 for x, y in zip(ra, rb) if x and not y)
        share = []
        for m in (a, b):
            v = ctx["shares"].get((e, m))
            share.append(f"{100 * np.mean(v):.0f}% (n={len(v)})" if v else "–")
        rows.append(f'<tr><th>{_esc(e)}</th><td>{len(rs)}</td><td data-summary="only-{_esc(b)}">{only_b}</td>'
                    f'<td data-summary="only-{_esc(a)}">{only_a}</td><td>{share[0]}</td><td>{share[1]}</td></tr>')
    return (f"<h3>Where the models differ</h3><p>Per environment: how often {_esc(b)} is right where {_esc(a)} is "
            f"wrong and the reverse, and, where the data marks the animal (mask or box), the share of each model's "
            f"top-{ctx['top_k']} superpixel area that lies on the animal.</p><table class='summary'><tr>"
            f"<th>environment</th><th>images</th><th>{_esc(b)} right, {_esc(a)} wrong</th><th>{_esc(a)} right, "
            f"{_esc(b)} wrong</th><th>{_esc(a)} top-k on animal</th><th>{_esc(b)} top-k on animal</th></tr>"
            f"{''.join(rows)}</table>")


def _all_page(ctx) -> str:
    records, models, envs = ctx["records"], ctx["models"], ctx["envs"]
    classes = list(dict.fromkeys(r["label"] for r in records))
    groups = OrderedDict((e, []) for e in envs)
    for rec, card in zip(records, ctx["cards"]):
        groups[rec["env"]].append(card)
    opts = lambda vals: "".join(f'<option value="{_esc(v)}">{_esc(v)}</option>' for v in vals)  # noqa: E731
    model_filters = "".join(
        f'<label>{_esc(m)} <select data-filter="right-{_esc(m)}"><option value="">any</option>'
        f'<option value="1">right</option><option value="0">wrong</option></select></label>' for m in models)
    sorts = ['<option value="">stream order</option>']
    for m in models:
        sorts.append(f'<option value="p-{_esc(m)}:desc">{_esc(m)} certainty, high first</option>')
        sorts.append(f'<option value="p-{_esc(m)}:asc">{_esc(m)} certainty, low first</option>')
        sorts.append(f'<option value="gap-{_esc(m)}:asc">{_esc(m)} LIME agrees with model, best first</option>')
        sorts.append(f'<option value="gap-{_esc(m)}:desc">{_esc(m)} LIME agrees with model, worst first</option>')
    controls = (f'<form id="filters" class="filters"><label>environment <select data-filter="env">'
                f'<option value="">all</option>{opts(envs)}</select></label><label>true class '
                f'<select data-filter="label"><option value="">all</option>{opts(classes)}</select></label>'
                f'{model_filters}<label><input type="checkbox" data-filter="disagree" value="1"> models disagree'
                f'</label><label><input type="checkbox" data-filter="explained" value="1"> explained only</label><label>sort <select id="sort">{"".join(sorts)}</select></label>'
                f'<output id="count">{len(records)} of {len(records)} images</output></form>')
    body = "".join(f'<section class="group" data-env="{_esc(e)}"><h2><span class="env" style="background:'
                   f'{ctx["colour"][e]}">env {_esc(e)}</span> <span class="gcount">{len(cards)}</span> images</h2>'
                   f'<div class="cards">{"".join(cards)}</div></section>' for e, cards in groups.items())
    return _page(f"{ctx['title']}: all images",
                 f'<header class="top"><h1>All images</h1><p><a href="index.html">← the tour</a></p>{controls}</header>'
                 f"<main>{body}</main>", '<script src="all.js"></script>')
