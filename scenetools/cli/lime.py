"""scene-lime: LIME superpixel explanations for every model in the stream."""
import json
import os
import sys
import time

import click

from .. import backbones as bb
from ..errors import BadUsage, DataError, Skips
from ..explain import Settings, Timing, explain_view, image_seed, in_shard, safe_name, save_segments
from ..model import load
from ..split import display_path
from ..stream import dumps, iter_numbered
from .base import (cache_opt, command, common, device_opt, input_arg, note, on_error_opt, parse_key_values,
                   progress, seed_opt)

EPILOG = """\b
Examples:
  scene-predict -m erm.pt -m irm.pt < split.jsonl | scene-lime --top-k 9 -o explained.jsonl
  scene-lime preds.jsonl -o all.jsonl --resume          # picks up where it stopped
  scene-lime preds.jsonl --per-env 6 -o sample.jsonl    # 6 images per environment
  scene-lime preds.jsonl --shard 0/4 -o part0.jsonl     # 1 of 4 parallel workers
Each explained record gains superpixels {map, count, ...} and lime.NAME =
{label, model_p, local_pred, gap, intercept, score (R^2), top, ranking} per model.
The superpixel maps go to FILE.superpixels/ (or --maps DIR).
"""


def _shard(text):
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise BadUsage(f"--shard {text!r}: write I/N with 0 <= I < N, e.g. 0/4") from None
    return i, n


def _resume_state(path):
    """Ids already in ``path``; a torn last line (interrupted write) is cut off."""
    done = set()
    if not os.path.exists(path):
        return done
    with open(path, "rb+") as fh:
        good_end = 0
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                done.add(str(json.loads(raw)["id"]))
            except (ValueError, KeyError, TypeError):
                break
            good_end += len(raw)
        fh.truncate(good_end)
    return done


@command("scene-lime", epilog=EPILOG)
@input_arg
@click.option("--top-k", type=click.IntRange(1, None), default=9, show_default=True,
              help="How many positive superpixels make a model's 'top'.")
@click.option("--num-samples", type=click.IntRange(2, None), default=1000, show_default=True,
              help="Perturbed images per image (the study: 1,000).")
@click.option("--segmenter", type=click.Choice(["quickshift", "slic", "felzenszwalb"]), default="quickshift",
              show_default=True)
@click.option("--seg-param", "seg_params", multiple=True, metavar="KEY=VALUE",
              help="Segmenter parameter (repeatable); quickshift defaults: kernel_size=4 max_dist=200 ratio=0.2.")
@click.option("--batch-size", type=click.IntRange(1, None), default=None,
              help="Perturbed images per forward pass (default 8 on cpu, 256 on cuda).")
@click.option("-o", "--output", default="-", metavar="FILE", help="Write here (flushed record by record).")
@click.option("--resume", is_flag=True, help="Keep FILE's finished records and explain only the rest.")
@click.option("--maps", "maps_dir", default=None, metavar="DIR", help="Where superpixel maps go "
              "(default FILE.superpixels/, or scene-superpixels/ for stdout).")
@click.option("--per-env", type=click.IntRange(1, None), default=None,
              help="Explain only N images per environment (chosen by seed); the rest pass through.")
@click.option("--ids", default=None, help="Explain only these ids (comma-separated); the rest pass through.")
@click.option("--shard", default=None, metavar="I/N", help="Handle only shard I of N (by id hash).")
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True)
@cache_opt
@device_opt
@seed_opt(0)
@on_error_opt
@common
def cli(input, top_k, num_samples, segmenter, seg_params, batch_size, output, resume, maps_dir, per_env, ids,
        shard, runtime, cache_dir, device, seed, on_error, verbose, quiet):
    """Explain each image's prediction by every model with LIME, from one set of perturbations."""
    settings = Settings(segmenter=segmenter, seg_params=parse_key_values(seg_params, '--seg-param', 'max_dist=200'), num_samples=num_samples,
                        top_k=top_k, batch_size=batch_size or bb.default_batch(device), seed=seed)
    shard_t = _shard(shard)
    if resume and output == "-":
        raise BadUsage("--resume needs -o FILE")
    maps_dir = maps_dir or (os.path.splitext(output)[0] + ".superpixels" if output != "-" else "scene-superpixels")
    done = _resume_state(output) if resume else set()
    wanted_ids = set(x.strip() for x in ids.split(",")) if ids else None
    pairs = [(w, r) for w, r in iter_numbered(input, require=("id", "image"))]
    pairs = [(w, r) for w, r in pairs if in_shard(r["id"], shard_t)]
    if per_env:
        by_env = {}
        for _, r in pairs:
            by_env.setdefault(r.get("env"), []).append(r)
        chosen = set()
        for recs in by_env.values():
            ranked = sorted(recs, key=lambda r: image_seed(seed, str(r["id"])))
            chosen.update(str(r["id"]) for r in ranked[:per_env])
        wanted_ids = chosen if wanted_ids is None else wanted_ids & chosen
    models, runners, skips, timing = {}, {}, Skips(on_error), Timing()
    fh = open(output, "a" if resume else "w", encoding="utf-8") if output != "-" else sys.stdout
    todo = [(w, r) for w, r in pairs if str(r["id"]) not in done]
    n_explain = sum(1 for _, r in todo if wanted_ids is None or str(r["id"]) in wanted_ids)
    explained = 0
    start = time.perf_counter()
    try:
        with progress(total=n_explain, quiet=quiet, desc="lime", unit="img") as bar:
            for where, rec in todo:
                if wanted_ids is not None and str(rec["id"]) not in wanted_ids:
                    fh.write(dumps(rec) + "\n")
                    fh.flush()
                    continue
                try:
                    out = _explain_record(rec, where, models, runners, settings, maps_dir, device, runtime,
                                          cache_dir, timing)
                except DataError as err:
                    skips.problem(err, "records that could not be explained")
                    bar.update(1)
                    continue
                fh.write(dumps(out) + "\n")
                fh.flush()
                explained += 1
                bar.update(1)
    finally:
        if fh is not sys.stdout:
            fh.close()
    secs = time.perf_counter() - start
    msg = f"scene-lime: explained {explained} image(s) in {secs:.0f} s"
    if explained:
        msg += (f" ({timing.total_s / explained:.2f} s/image, {100 * timing.forward_s / max(timing.total_s, 1e-9):.0f}%"
                " in forward passes)")
    if done:
        msg += f"; {len(done)} already done"
    note(msg, quiet)
    if skips.total:
        note(f"scene-lime: {skips.summary()}", False)
        return 1 if explained == 0 else 0


def _explain_record(rec, where, models, runners, settings, maps_dir, device, runtime, cache_dir, timing):
    preds = rec.get("pred")
    if not isinstance(preds, dict) or not preds:
        raise DataError(f"record {rec['id']} has no 'pred'; pipe scene-predict's output into scene-lime", where=where)
    groups = {}
    for name, p in preds.items():
        path = p.get("model") if isinstance(p, dict) else None
        if not path:
            raise DataError(f"pred.{name} of record {rec['id']} names no model file", where=where)
        if path not in models:
            models[path] = load(path, where=f"{where} (pred.{name})")
        m = models[path]
        groups.setdefault((m.meta["backbone"], m.meta.get("weights")), {})[name] = m.to(device)
    view = bb.load_view(rec["image"], where=f"{where} (id {rec['id']})")
    out = dict(rec)
    lime_out = dict(rec.get("lime") or {})
    segments = None
    for (bname, weights), group in groups.items():
        backbone = bb.get(bname)
        key = (bname, weights)
        if key not in runners:
            runners[key] = bb.make_runner(backbone, weights, device, runtime, cache_dir)
        segments, exps = explain_view(view, str(rec["id"]), group, runners[key], backbone, settings, timing)
        lime_out.update(exps)
    map_path = os.path.join(maps_dir, safe_name(str(rec["id"])) + ".npz")
    save_segments(map_path, segments)
    out["superpixels"] = {"map": display_path(map_path), "count": int(segments.max()) + 1,
                          **settings.describe()}
    out["lime"] = lime_out
    return out


main = cli.main
