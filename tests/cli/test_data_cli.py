"""`swirl data`: the shipped samples are listed, exported with their licenses, and load."""

from __future__ import annotations

from typer.testing import CliRunner

from swirl.cli import app
from swirl.cli.common import console
from swirl.data import LICENSES_FILE, SAMPLES, find_sample
from swirl.tasks import load_tasks

runner = CliRunner()


def test_list_shows_every_sample_with_its_size_and_license(monkeypatch):
    monkeypatch.setattr(console, "width", 250)  # one table row per line
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    for sample in SAMPLES:
        row = next(line for line in result.stderr.splitlines() if f" {sample.name} " in line)
        assert f" {len(load_tasks(sample.resource()))} " in row
        assert sample.license in row and sample.export_as in row


def test_export_writes_loadable_files_and_licenses(tmp_path):
    result = runner.invoke(app, ["data", "export", "--output", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    for sample in SAMPLES:
        exported = tmp_path / "data" / sample.export_as
        assert exported.read_bytes() == sample.resource().read_bytes()
        assert load_tasks(exported) == load_tasks(sample.resource())
    licenses = (tmp_path / "data" / LICENSES_FILE).read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in licenses and "BeerQA" in licenses and "MuSiQue" in licenses
    # Exporting again over identical files is fine.
    assert runner.invoke(app, ["data", "export", "--output", str(tmp_path / "data")]).exit_code == 0


def test_export_of_named_samples(tmp_path):
    result = runner.invoke(app, ["data", "export", "beerqa-dev", "gsm8k-test", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(["beerqa/dev.json", "gsm8k/test.jsonl", LICENSES_FILE])


def test_export_refuses_to_overwrite_and_writes_nothing(tmp_path):
    mine = tmp_path / "gsm8k" / "test.jsonl"
    mine.parent.mkdir()
    mine.write_text("my own file\n")
    result = runner.invoke(app, ["data", "export", "-o", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"error: {mine} exists with other content; use --force to overwrite it, or another --output"
    assert mine.read_text() == "my own file\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["test.jsonl"]
    assert runner.invoke(app, ["data", "export", "-o", str(tmp_path), "--force"]).exit_code == 0
    assert load_tasks(mine) == load_tasks(find_sample("gsm8k-test").resource())


def test_unknown_sample_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["data", "export", "squad", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: no shipped sample 'squad'; choose from "
                                     f"{', '.join(s.name for s in SAMPLES)}")
    assert not any(tmp_path.iterdir())
