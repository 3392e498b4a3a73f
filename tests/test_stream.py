"""The record stream and the shared command behaviour."""
import io
import os
import re

import pytest

from scenetools import stream
from scenetools.errors import DataError
from conftest import ROOT

COMMANDS = ["scene-synth", "scene-split", "scene-train", "scene-predict", "scene-eval", "scene-lime", "scene-render"]


def test_iter_records_names_file_and_line():
    src = io.StringIO('{"id": 1}\n\n{"id": 2\n')
    it = stream.iter_records(src, name="in.jsonl")
    assert next(it) == {"id": 1}
    with pytest.raises(DataError, match=r"in.jsonl:3: not valid JSON"):
        next(it)
    with pytest.raises(DataError, match=r"in.jsonl:1: a record must be a JSON object"):
        list(stream.iter_records(io.StringIO("[1]\n"), name="in.jsonl"))
    with pytest.raises(DataError, match=r"x:1: record 7 lacks field\(s\) split"):
        list(stream.iter_records(io.StringIO('{"id": 7}\n'), name="x", require=("id", "split")))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with stream.atomic_write(str(path)) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["out.jsonl"]


def test_every_command_is_installed_documented_and_has_an_example():
    import tomllib
    from importlib import import_module

    scripts = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["project"]["scripts"]
    assert sorted(scripts) == sorted(COMMANDS)
    readme = open(os.path.join(ROOT, "README.md")).read()
    for name, target in scripts.items():
        assert os.path.exists(os.path.join(ROOT, "bin", name)), name
        assert f"`{name}`" in readme, f"{name} is not documented in README.md"
        module = import_module(target.split(":")[0])
        from click.testing import CliRunner
        res = CliRunner().invoke(module.cli, ["--help"])
        assert res.exit_code == 0 and "Example" in res.stdout, name
    assert re.search(r"make all", readme[:1500]) and re.search(r"make test", readme[:1500])
    assert "docs/records.md" in readme and os.path.isfile(os.path.join(ROOT, "docs", "records.md"))
