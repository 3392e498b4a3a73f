"""scene-train: fit an ERM / IRM / V-REx / GroupDRO head on frozen features."""
import os

import click

from .. import algorithms as algos
from .. import backbones as bb
from .. import features
from ..errors import BadUsage
from ..stream import atomic_write, dumps, iter_numbered
from ..experiment import GRIDS, grid
from ..train import SELECTIONS, prepare, sweep, train
from .base import cache_opt, command, common, device_opt, input_arg, note, parse_key_values, progress, seed_opt

EPILOG = """\b
Examples:
  scene-train --method erm -o erm.pt < split.jsonl
  scene-train --method irm -p penalty_weight=1e4 -p anneal_steps=40 -o irm.pt split.jsonl
  scene-train --method irm --sweep -o irm.pt split.jsonl     # hyperparameters chosen on val too
  scene-train --list-methods
The per-step log goes to MODEL.log.jsonl (or --log): loss, penalty, accuracy per
training environment, validation accuracy and objective, and test accuracy (for
plots only: it chooses nothing unless --select oracle).
"""


def _list_methods(ctx, param, value):
    if not value or ctx.resilient_parsing:
        return
    for name, cls in algos.ALGORITHMS.items():
        click.echo(f"{name}: {cls.about}")
        click.echo("    " + ", ".join(f"{k}={v}" for k, v in cls.defaults().items()))
    ctx.exit(0)


@command("scene-train", epilog=EPILOG)
@input_arg
@click.option("--method", type=click.Choice(list(algos.ALGORITHMS)), default="irm", show_default=True)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A hyperparameter (repeatable); --list-methods shows them with their defaults.")
@click.option("--head", type=click.Choice(["linear", "mlp"]), default=None, help="Head on the features (default linear).")
@click.option("--select", type=click.Choice(SELECTIONS), default="val", show_default=True,
              help="Which step's head to save: val (method's objective on held-out training-camera records), "
                   "val-acc, last, or oracle (peeks at test labels; for comparison only).")
@click.option("--sweep", "do_sweep", is_flag=True,
              help="Also choose hyperparameters: train the method's grid (experiment.GRIDS) and keep the "
                   "configuration with the lowest validation objective (never the test camera).")
@click.option("--backbone", type=click.Choice(list(bb.REGISTRY)), default="tf_efficientnet_lite0", show_default=True)
@click.option("--weights", default=None, metavar="FILE", help="Backbone weights file (else the backbone's default).")
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True)
@click.option("-o", "--output", required=True, metavar="MODEL.pt", help="Model file to write (atomically).")
@click.option("--log", "log_path", default=None, metavar="FILE", help="Per-step JSON Lines log (default MODEL.log.jsonl).")
@click.option("--list-methods", is_flag=True, expose_value=False, is_eager=True, callback=_list_methods,
              help="List methods and their hyperparameters, then exit.")
@cache_opt
@device_opt
@seed_opt(0)
@common
def cli(input, method, params, head, select, do_sweep, backbone, weights, runtime, output, log_path, cache_dir, device, seed,
        verbose, quiet):
    """Train a head on frozen backbone features of a split stream and save the selected checkpoint."""
    hp = parse_key_values(params, '-p', 'lr=1e-3')
    if head:
        hp["head"] = head
    pairs = list(iter_numbered(input, require=("id", "image", "label", "env", "split")))
    records = [r for _, r in pairs]
    if not records:
        raise BadUsage("the input stream is empty")
    backbone_obj = bb.get(backbone)
    with progress(total=len(records), quiet=quiet, desc="features", unit="img") as bar:
        X, ok, st = features.for_records(records, backbone_obj, weights=weights, cache_dir=cache_dir,
                                         device=device, runtime=runtime, progress=bar.update)
    note(st.line(), quiet)
    src = "<stdin>" if input in (None, "-") else input
    data = prepare(records, X, source=src)
    extra = {"source": src, "images": len(records)}
    if do_sweep:
        configs = [c for c in grid(method) if not set(c) & set(hp)]   # -p values stay fixed
        result, rows = sweep(data, method, configs, hp, seed=seed, device=device)
        extra["sweep"] = {"grid": {k: v for k, v in GRIDS.get(method, {}).items() if k not in hp}, "results": rows,
                          "chosen_by": "lowest validation objective"}
        for row in rows:
            note(f"  sweep {row['hparams']}: val objective {row['val_objective']:.4f} at step {row['step']}", quiet)
    else:
        result = train(data, method, hp, seed=seed, device=device)
    model = result.model(select, backbone, weights, backbone_obj.weights_id(weights), seed, extra)
    model.save(output)
    log_path = log_path or os.path.splitext(output)[0] + ".log.jsonl"
    with atomic_write(log_path) as fh:
        for rec in result.history:
            fh.write(dumps(rec) + "\n")
    sel = model.meta["selection"]
    note(f"scene-train: {method} -> {output} (step {sel['step']} by {sel['label']}; "
         f"train {100 * (sel['train_acc'] or 0):.1f}%, val {100 * (sel['val_acc'] and sum(sel['val_acc'].values()) / len(sel['val_acc']) or 0):.1f}%"
         + (f", test {100 * sel['test_acc']:.1f}%" if sel.get('test_acc') is not None else "") + f"); log {log_path}", quiet)


main = cli.main
