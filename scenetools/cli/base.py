"""What every command shares: error handling, SIGPIPE, and the common options.

Each command is a ``SceneCommand``: errors become one line on stderr,
``command: Type: message``, with exit 1 for bad data and 2 for bad usage, and
a traceback only with ``--verbose``.  Options shared between commands are
decorators defined once here.
"""
from __future__ import annotations

import logging
import signal
import sys
import traceback

import click

from ..errors import SceneError

log = logging.getLogger("scenetools")


class SceneCommand(click.Command):
    """A click command whose failures are one-line messages with meaningful exit codes."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if hasattr(signal, "SIGPIPE") and sys.stdout is sys.__stdout__:
            # `| head` closes the pipe: die quietly as Unix tools do.
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        name = prog_name or self.name
        argv = list(sys.argv[1:] if args is None else args)
        verbose = "--verbose" in argv or "-v" in argv
        try:
            rv = super().main(args=argv, prog_name=name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.Abort:
            click.echo(f"{name}: Interrupted", err=True)
            code = 130
        except click.UsageError as exc:
            hint = f" (see '{name} --help')"
            click.echo(f"{name}: Usage: {exc.format_message()}{hint}", err=True)
            code = 2
        except SceneError as exc:
            if verbose:
                traceback.print_exc()
            click.echo(f"{name}: {type(exc).__name__}: {exc}", err=True)
            code = exc.exit_code
        except BrokenPipeError:
            code = 0
        except KeyboardInterrupt:
            click.echo(f"{name}: Interrupted", err=True)
            code = 130
        except Exception as exc:  # an unexpected failure: still one line unless --verbose
            if verbose:
                traceback.print_exc()
            click.echo(f"{name}: {type(exc).__name__}: {exc} (run with --verbose for a traceback)", err=True)
            code = 1
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def command(name: str, epilog: str | None = None):
    """Decorator for a command: ``@command("scene-split", epilog=...)``."""
    return click.command(name=name, cls=SceneCommand, epilog=epilog,
                         context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})


def _setup_logging(ctx, param, value):
    level = logging.DEBUG if value else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    return value


def common(f):
    """--verbose and --quiet: every command has them."""
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary on stderr.")(f)
    f = click.option("-v", "--verbose", is_flag=True, callback=_setup_logging, expose_value=True,
                     is_eager=True, help="Debug logs and full tracebacks on error.")(f)
    return f


def input_arg(f):
    return click.argument("input", required=False, default="-", metavar="[INPUT.jsonl]")(f)


def output_opt(f):
    return click.option("-o", "--output", default="-", metavar="FILE",
                        help="Write here (atomically) instead of stdout.")(f)


def device_opt(f):
    return click.option("--device", default="cpu", show_default=True,
                        help="Where the heavy steps run: cpu, cuda or cuda:N.")(f)


def seed_opt(default: int = 0):
    return click.option("--seed", type=int, default=default, show_default=True,
                        help="Seed for every random choice.")


def on_error_opt(f):
    return click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
                        help="fail: stop at the first bad record; skip: count it, report it, go on.")(f)


def cache_opt(f):
    return click.option("--cache", "cache_dir", default=None, metavar="DIR",
                        help="Feature cache folder (default $SCENE_CACHE or ~/.cache/scenetools).")(f)


def parse_key_values(pairs, option: str, example: str) -> dict:
    """``("lr=1e-3", "head=mlp")`` -> ``{"lr": 0.001, "head": "mlp"}`` (values read as JSON when they parse)."""
    import json

    from ..errors import BadUsage

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadUsage(f"{option} {pair!r}: write KEY=VALUE, e.g. {option} {example}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def note(msg: str, quiet: bool = False) -> None:
    """A line for the human on stderr (never stdout)."""
    if not quiet:
        click.echo(msg, err=True)


def progress(iterable=None, quiet: bool = False, **kw):
    """A tqdm bar on stderr, shown only when stderr is a terminal and not --quiet."""
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, file=sys.stderr, disable=disable, dynamic_ncols=True, **kw)
