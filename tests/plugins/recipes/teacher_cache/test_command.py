"""``tokenizer-bench cache-teachers``: a config with a tiny CTC STT and BERT, the summary table."""

import typer
import yaml
from typer.testing import CliRunner

from tokenizer_bench.plugins.recipes.teacher_cache.command import add_commands
from tokenizer_bench.plugins.teachers._testing import make_tiny_bert, make_tiny_ctc, write_test_corpus


def test_cli_with_a_tiny_ctc_stt(tmp_path):
    write_test_corpus(tmp_path / "data", n_good=4)
    config = {
        "model": {
            "tokenizer": "dm_codec",
            "encoder": {"name": "seanet_encoder", "strides": [8, 5, 4, 2]},
            "quantizer": {"name": "rvq"},
            "decoder": {"name": "seanet_decoder"},
        },
        "teachers": {
            "stt": {"name": "stt_hf_ctc", "model": str(make_tiny_ctc(tmp_path / "ctc"))},
            "lm": {"name": "lm_hf", "model": str(make_tiny_bert(tmp_path / "bert"))},
            "sm": None,
            "device": "cpu",
        },
        "data": {"train": str(tmp_path / "data")},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config))
    app = typer.Typer()
    add_commands(app)

    @app.command("noop")  # a second command keeps typer from collapsing the app into one command
    def _noop() -> None:
        pass

    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        ["cache-teachers", str(tmp_path / "cfg.yaml"), "--limit", "5", "--no-progress",
         "--set", f"teachers.cache_dir={tmp_path / 'cache'}"],
    )
    assert result.exit_code == 0, result.output
    # sorted ids: corrupt, tiny, utt000, utt001, utt002
    assert "teacher cache" in result.output and "3 computed" in result.output and "2 skipped" in result.output
    assert len(list((tmp_path / "cache" / "lm").glob("*/*.safetensors"))) == 3
