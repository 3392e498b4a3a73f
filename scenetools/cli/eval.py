"""scene-eval: accuracy and friends per model and environment."""
import json

import click

from ..evaluate import evaluate, table
from ..stream import iter_records
from .base import command, common, input_arg

EPILOG = """\b
Example:
  scene-predict -m erm.pt -m irm.pt < split.jsonl | scene-eval
  scene-eval --json preds.jsonl | jq '.rows[] | select(.env == "130") | {model, accuracy}'
"""


@command("scene-eval", epilog=EPILOG)
@input_arg
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common
def cli(input, as_json, verbose, quiet):
    """Print, per model and environment: images, accuracy, always-majority baseline, balanced accuracy,
    per-class precision/recall, macro F1 and the confusion matrix."""
    src = "<stdin>" if input in (None, "-") else input
    report = evaluate(iter_records(input), source=src)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(table(report))


main = cli.main
