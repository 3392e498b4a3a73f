"""scene-predict: add every model's prediction to the stream."""
import click

from ..errors import Skips
from ..predict import load_models, predict
from ..stream import iter_numbered, open_output
from .base import cache_opt, command, common, device_opt, input_arg, note, on_error_opt, output_opt, progress

EPILOG = """\b
Example:
  scene-predict --model erm.pt --model irm.pt < split.jsonl > preds.jsonl
  jq -c '{id, label, erm: .pred.erm.label, irm: .pred.irm.label}' preds.jsonl | head
Each record gains pred.NAME = {label, p (the certainty: probability of that
label), probs (every class), model (the file), method}. NAME is the file's stem,
or give NAME=PATH.
"""


@command("scene-predict", epilog=EPILOG)
@input_arg
@click.option("-m", "--model", "model_specs", multiple=True, required=True, metavar="[NAME=]MODEL.pt",
              help="A model file from scene-train (repeatable).")
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True)
@cache_opt
@device_opt
@on_error_opt
@output_opt
@common
def cli(input, model_specs, runtime, cache_dir, device, on_error, output, verbose, quiet):
    """Predict every record of a stream with one or more models."""
    models = load_models(model_specs)
    skips = Skips(on_error)
    with open_output(output) as out, progress(quiet=quiet, desc="predict", unit="img") as bar:
        for rec in predict(iter_numbered(input, require=("id", "image")), models, cache_dir=cache_dir,
                           device=device, runtime=runtime, skips=skips, progress=bar.update):
            out.write(rec)
    if skips.total:
        note(f"scene-predict: {skips.summary()}", False)


main = cli.main
