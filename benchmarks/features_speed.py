#!/usr/bin/env python3
"""Feature extraction against the backbone's own batched forward time, and training time on cached features.

In one run, on all images of the real data:
  forward   the backbone alone on already-decoded, already-normalised batches (the floor)
  extract   scenetools.features.extract with an empty cache: hashing, decoding, normalising,
            forward passes and cache writes (the target: at most 1.25 x forward)
  cached    the same again, served from the cache
  train     ERM and IRM heads on the cached features (500 full-batch steps each)

    python benchmarks/features_speed.py [--data ../shared/data/iwildcam-scene] [--runtime auto|torch|onnx]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scenetools import backbones as bb, datasets, features  # noqa: E402
from scenetools.split import make_split  # noqa: E402
from scenetools.train import prepare, train  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "iwildcam-scene")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--backbone", default="tf_efficientnet_lite0")
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    records, _ = make_split(datasets.load(args.data), ["coyote", "raccoon"], "43,46", "130", 0.2, 0)
    paths = [r["image"] for r in records]
    backbone = bb.get(args.backbone)
    with tempfile.TemporaryDirectory() as tmp:
        runner = bb.make_runner(backbone, None, args.device, args.runtime, cache_dir=tmp)   # export outside timing
        batch = bb.default_batch(args.device)
        views = np.stack([bb.load_view(p) for p in paths])
        xs = [backbone.normalize(views[i:i + batch]) for i in range(0, len(views), batch)]
        runner(xs[0])
        t = time.perf_counter()
        for x in xs:
            runner(x)
        forward = time.perf_counter() - t
        del views, xs
        t = time.perf_counter()
        X, ok, st = features.extract(paths, backbone, cache_dir=tmp, device=args.device, runtime=args.runtime)
        extract = time.perf_counter() - t
        t = time.perf_counter()
        X2, ok, st2 = features.extract(paths, backbone, cache_dir=tmp, device=args.device, runtime=args.runtime)
        cached = time.perf_counter() - t
    assert np.array_equal(X, X2)
    print(f"{len(paths)} images, {args.backbone}, {runner.name}, batch {batch}")
    print(f"backbone forward alone:        {forward:6.1f} s  ({len(paths) / forward:.0f} images/s)")
    print(f"extraction, empty cache:       {extract:6.1f} s  = {extract / forward:.2f} x forward "
          f"(its own forward passes: {st.forward_s:.1f} s)")
    print(f"extraction, from cache:        {cached:6.1f} s")
    data = prepare(records, X)
    for method in ("erm", "irm"):
        t = time.perf_counter()
        res = train(data, method, seed=0)
        print(f"train {method} ({res.algorithm.hparams['steps']} full-batch steps): {time.perf_counter() - t:5.1f} s")


if __name__ == "__main__":
    main()
