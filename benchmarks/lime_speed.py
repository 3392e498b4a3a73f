#!/usr/bin/env python3
"""scene-lime against stock lime on real images: speed, share of time in forward passes, faithfulness.

For each image and both models (ERM and IRM heads on the same frozen backbone):
  stock      lime's LimeImageExplainer.explain_instance, once per model, batch_size 10, 1,000 samples,
             quickshift (4, 200, 0.2), classifier_fn = the backbone in torch eager + the head
             (the way a user would write it); random_state and random_seed = scene-lime's image seed
  stock-b    the same with another random_state, on the same superpixels (perturbation noise only)
  scene-lime explain_view: one perturbation set, one backbone pass for both models (onnxruntime)
Prints seconds per image, the speed-up, the share of scene-lime's time in forward passes, and the
top-9 overlaps: scene-lime vs stock (same seed), scene-lime vs stock-b, stock vs stock-b.

    python benchmarks/lime_speed.py --images 10 [--models erm.pt irm.pt] [--stock-runtime torch|onnx]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scenetools import backbones as bb, datasets, explain, features, model as model_mod  # noqa: E402
from scenetools.split import make_split  # noqa: E402
from scenetools.train import prepare, train  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "iwildcam-scene")


def trained_models(records, cache):
    lite = bb.get("tf_efficientnet_lite0")
    X, ok, _ = features.for_records(records, lite, cache_dir=cache)
    data = prepare(records, X)
    out = {}
    for name, hp in (("erm", {}), ("irm", {"anneal_steps": 20, "l2": 1e-2})):
        res = train(data, name, hp, seed=0)
        out[name] = res.model("val", lite.name, None, lite.weights_id(None), 0)
    return out


def overlap(a, b, k):
    return len(set(a[:k]) & set(b[:k])) / k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--models", nargs="*", default=None, help="model files (default: train ERM and IRM here)")
    ap.add_argument("--num-samples", type=int, default=1000)
    ap.add_argument("--stock-runtime", choices=["torch", "onnx"], default="torch")
    ap.add_argument("--top-k", type=int, default=9)
    ap.add_argument("--cache", default=None)
    args = ap.parse_args()
    from lime import lime_image

    ds = datasets.load(args.data)
    records, _ = make_split(ds, ["coyote", "raccoon"], "43,46", "130", 0.2, 0)
    if args.models:
        models = {os.path.splitext(os.path.basename(p))[0]: model_mod.load(p) for p in args.models}
    else:
        models = trained_models(records, args.cache)
    lite = bb.get("tf_efficientnet_lite0")
    fast = bb.make_runner(lite, runtime="onnx", cache_dir=args.cache)
    stock_runner = bb.make_runner(lite, runtime=args.stock_runtime, cache_dir=args.cache)
    # 10 images spread over the three cameras, including the study's example 3-433
    by_env = {}
    for r in records:
        by_env.setdefault(r["env"], []).append(r)
    picks = [r for r in records if r["id"] == "scene-3-433"]
    i = 0
    while len(picks) < args.images:
        env = list(by_env)[i % 3]
        picks.append(by_env[env][(i * 37) % len(by_env[env])])
        i += 1
    settings = explain.Settings(num_samples=args.num_samples, top_k=args.top_k)
    stock_s, ours_s, timing = 0.0, 0.0, explain.Timing()
    ov_same, ov_ours_b, ov_stock_b, same_segments = [], [], [], 0
    print(f"{len(picks)} images, {args.num_samples} samples, models {', '.join(models)}; stock classifier: "
          f"{stock_runner.name}; scene-lime: {fast.name}, batch {settings.batch_size}", flush=True)
    for rec in picks:
        view = bb.load_view(rec["image"])
        seed = explain.image_seed(settings.seed, rec["id"])
        t0 = time.perf_counter()
        segs, ours = explain.explain_view(view, rec["id"], models, fast, lite, settings, timing)
        ours_s += time.perf_counter() - t0
        stock, stock_b = {}, {}
        for name, m in models.items():
            def classifier_fn(imgs, m=m):
                return m.proba(stock_runner(lite.normalize(np.asarray(imgs))))
            t1 = time.perf_counter()
            exp = lime_image.LimeImageExplainer(random_state=seed).explain_instance(
                view, classifier_fn, top_labels=1, hide_color=None, num_samples=args.num_samples, batch_size=10,
                random_seed=seed)
            stock_s += time.perf_counter() - t1
            same_segments += int(np.array_equal(exp.segments, segs))
            label = exp.top_labels[0]
            stock[name] = [s for s, w in sorted(exp.local_exp[label], key=lambda sw: -sw[1]) if w > 0]
            expb = lime_image.LimeImageExplainer(random_state=seed + 1).explain_instance(
                view, classifier_fn, top_labels=1, hide_color=None, num_samples=args.num_samples, batch_size=10,
                segmentation_fn=lambda img: segs)
            stock_b[name] = [s for s, w in sorted(expb.local_exp[expb.top_labels[0]], key=lambda sw: -sw[1]) if w > 0]
            k = args.top_k
            ov_same.append(overlap(ours[name]["top"], stock[name], k))
            ov_ours_b.append(overlap(ours[name]["top"], stock_b[name], k))
            ov_stock_b.append(overlap(stock[name], stock_b[name], k))
        print(f"  {rec['id']}: stock {stock_s / (picks.index(rec) + 1):.1f} s/img so far, scene-lime "
              f"{ours_s / (picks.index(rec) + 1):.1f} s/img", file=sys.stderr, flush=True)
    n = len(picks)
    print(f"stock lime ({stock_runner.name} classifier, 2 explain_instance calls): {stock_s / n:.1f} s/image")
    print(f"scene-lime (one perturbation set, both models):          {ours_s / n:.1f} s/image")
    print(f"speed-up: {stock_s / ours_s:.1f}x")
    print(f"scene-lime time in backbone forward passes: {100 * timing.forward_s / timing.total_s:.1f}% "
          f"(segmentation {100 * timing.segment_s / timing.total_s:.1f}%, building perturbations "
          f"{100 * timing.build_s / timing.total_s:.1f}%, surrogate fits {100 * timing.fit_s / timing.total_s:.1f}%)")
    print(f"identical superpixels to stock: {same_segments}/{n * len(models)}")
    print(f"top-{args.top_k} overlap, scene-lime vs stock (same seed):      {np.mean(ov_same):.3f}")
    print(f"top-{args.top_k} overlap, scene-lime vs stock (other seed):     {np.mean(ov_ours_b):.3f}")
    print(f"top-{args.top_k} overlap, stock vs stock (two seeds):           {np.mean(ov_stock_b):.3f}")


if __name__ == "__main__":
    main()
