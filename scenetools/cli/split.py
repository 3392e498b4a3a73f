"""scene-split: camera-trap data -> the record stream."""
import click

from .. import datasets
from ..split import make_split
from ..stream import open_output, write_json
from .base import command, common, note, on_error_opt, output_opt, seed_opt

EPILOG = """\b
Example (the Scene study: two training cameras, one unseen test camera):
  scene-split ../shared/data/iwildcam-scene --classes coyote,raccoon \\
      --train 43,46 --test 130 > split.jsonl
  jq -r .split split.jsonl | sort | uniq -c

DATA is a COCO Camera Traps .json (or a folder holding annotations.json), a
WILDS iwildcam_v2.0 folder (metadata.csv), or a ROOT/<location>/<class>/ tree.
Join cameras into one environment with '+': --train 43+100,46.
"""


@command("scene-split", epilog=EPILOG)
@click.argument("data", metavar="DATA")
@click.option("--layout", type=click.Choice(["auto", "coco", "wilds", "folder"]), default="auto",
              show_default=True, help="How DATA is laid out.")
@click.option("--classes", default=None, help="Comma-separated class names to keep (default: all but 'empty').")
@click.option("--train", "train", required=True, help="Training cameras, one environment each: 43,46.")
@click.option("--test", "test", required=True, help="Test cameras (never trained on): 130.")
@click.option("--val-frac", type=float, default=0.2, show_default=True,
              help="Fraction of each training environment held out as split 'val' for model selection.")
@click.option("--report", "report_path", default=None, metavar="FILE", help="Also write the table as JSON here.")
@seed_opt(0)
@on_error_opt
@output_opt
@common
def cli(data, layout, classes, train, test, val_frac, report_path, seed, on_error, output, verbose, quiet):
    """Choose classes and cameras from camera-trap DATA and write one JSON record per image.

    Each record has id, image, label, location, env and split (train, val or
    test). The per-environment table goes to stderr.
    """
    ds = datasets.load(data, layout)
    wanted = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    records, report = make_split(ds, wanted, train, test, val_frac=val_frac, seed=seed, on_error=on_error)
    with open_output(output) as out:
        out.write_all(records)
    if report_path:
        write_json(report_path, report.as_dict())
    note(report.table(), quiet)


main = cli.main
