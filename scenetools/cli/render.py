"""scene-render: the Scene site from the explained stream."""
import os

import click

from ..errors import BadUsage, DataError
from ..render import render
from ..stream import iter_records
from .base import command, common, input_arg, note, progress

EPILOG = """\b
Example:
  scene-render explained.jsonl --out site/ --log erm=erm.log.jsonl --log irm=irm.log.jsonl
  python3 -m http.server -d site    # or open site/index.html
Training logs are found beside the model files named in the records when no
--log is given. Images and overlays are written once and reused on rebuilds.
"""


def _logs(specs, records):
    logs = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            raise BadUsage(f"--log {spec!r}: write NAME=FILE, e.g. --log irm=irm.log.jsonl")
        logs[name] = path
    if not specs:
        for rec in records:
            for name, p in (rec.get("pred") or {}).items():
                guess = os.path.splitext(p.get("model", ""))[0] + ".log.jsonl"
                if name not in logs and os.path.isfile(guess):
                    logs[name] = guess
    out = {}
    for name, path in logs.items():
        if not os.path.isfile(path):
            raise DataError(f"training log {path} does not exist", where=f"--log {name}")
        out[name] = list(iter_records(path))
    return out


@command("scene-render", epilog=EPILOG)
@input_arg
@click.option("--out", "out_dir", required=True, metavar="DIR", help="Folder for the site.")
@click.option("--log", "log_specs", multiple=True, metavar="NAME=FILE", help="A model's training log (repeatable).")
@click.option("--top-k", type=click.IntRange(1, None), default=9, show_default=True,
              help="Superpixels shown per model on each card.")
@click.option("--title", default="Scene", show_default=True)
@common
def cli(input, out_dir, log_specs, top_k, title, verbose, quiet):
    """Write a static site: the guided tour (index.html) and every image with filters (all.html)."""
    src = "<stdin>" if input in (None, "-") else input
    records = list(iter_records(input, require=("id", "image", "label", "env", "split")))
    if not records:
        raise DataError("empty stream: nothing to render", where=src)
    logs = _logs(log_specs, records)
    with progress(total=len(records), quiet=quiet, desc="render", unit="img") as bar:
        info = render(records, out_dir, logs=logs, top_k=top_k, title=title, progress=bar.update)
    note(f"scene-render: {info['images']} images ({info['explained']} explained) -> {out_dir}/index.html, "
         f"all.html; {info['written']} images written, {info['reused']} reused; {info['seconds']:.1f} s, "
         f"{info['bytes'] / 1e6:.1f} MB", quiet)


main = cli.main
