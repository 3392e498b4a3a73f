"""scene-synth: write the built-in demo world."""
import time

import click

from ..synth import synthesize
from .base import command, common, note, progress, seed_opt

EPILOG = """\b
Example:
  scene-synth --out demo/ --images 600 --seed 0
  scene-split demo/ --classes coyote,raccoon --train 101,102 --test 201 > split.jsonl
"""


@command("scene-synth", epilog=EPILOG)
@click.option("--out", "out_dir", required=True, metavar="DIR", help="Folder to write (annotations.json, images/, masks/).")
@click.option("--images", "n_images", type=click.IntRange(4, None), default=600, show_default=True,
              help="How many images in all (spread over the 4 cameras).")
@seed_opt(0)
@common
def cli(out_dir, n_images, seed, verbose, quiet):
    """Draw a camera-trap world in COCO Camera Traps format: 4 cameras, coyotes and raccoons, day and
    infrared night, with a spurious time-of-day cue that reverses at test camera 201.

    Each image has a bbox annotation and a mask PNG of the visible animal.
    """
    start = time.perf_counter()
    with progress(total=n_images, quiet=quiet, desc="drawing", unit="img") as bar:
        doc = synthesize(out_dir, n_images=n_images, seed=seed, progress=bar.update)
    note(f"scene-synth: wrote {len(doc['images'])} images to {out_dir} in {time.perf_counter() - start:.1f} s", quiet)


main = cli.main
