"""migrate-config: older configs (top-level distillation, losses.weights) rewritten into the loss mapping."""

from __future__ import annotations

import textwrap

import yaml

from tokenizer_bench.core.config import load_config
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.plugins.recipes.migrate import migrate_config, migrate_file

OLD_BASE = textwrap.dedent("""\
    name: old
    model:
      encoder: {name: seanet_encoder, n_filters: 4, dimension: 8, strides: [2, 2]}
      quantizer: {name: rvq, dimension: 8, n_q: 2, codebook_size: 16}
      decoder: {name: seanet_decoder, n_filters: 4, dimension: 8, strides: [2, 2]}
    teachers: {stt: {name: stt_faster_whisper}, lm: {name: lm_hf, model: minilm-offline}, sm: null}
    distillation: {lambda_lm: 1.0, lambda_sm: 0.0}
    discriminators: [{name: mpd}]
    losses:
      mel: {name: dmcodec_mel}
      adversarial: {name: adversarial, kind: hinge}
      weights: {mel: 30.0}
    data: {train: [x]}
""")


def test_root_config_gets_every_term_the_old_defaults_implied(tmp_path):
    new = migrate_config(yaml.safe_load(OLD_BASE))
    assert "distillation" not in new and new["model"]["tokenizer"] == "dm_codec"
    assert new["model"]["semantic_dimension"] is None  # the old trainer passed it by default
    assert new["losses"] == {
        "mel": {"name": "dmcodec_mel", "weight": 30.0},
        "commitment": {"name": "commitment", "weight": 10.0},  # always added by the old trainer
        "distillation": {"name": "distillation", "lm": {"target": "rvq1"}, "sm": None, "lambda_lm": 1.0,
                         "lambda_sm": 0.0, "scale": 1.0, "share_projection": None, "mask_silence": False,
                         "weight": 120.0},
        "adversarial": {"name": "adversarial", "kind": "hinge", "weight": 1.0},
    }
    (tmp_path / "base.yaml").write_text(migrate_file_text(tmp_path, "old.yaml", OLD_BASE))
    assert load_config(str(tmp_path / "base.yaml"), TrainConfig).losses["mel"].weight == 30.0


def migrate_file_text(folder, name, text):
    (folder / name).write_text(text)
    return migrate_file(folder / name)


def test_override_moves_only_what_it_sets(tmp_path):
    (tmp_path / "base.yaml").write_text(migrate_file_text(tmp_path, "old_base.yaml", OLD_BASE))
    override = "extends: base.yaml\ndistillation: {lambda_lm: 0.7, lambda_sm: 0.3, sm: {target: rvq1}}\n" \
               "teachers: {sm: {name: sm_faster_whisper}}\nlosses: {weights: {adversarial: 3.0}}\n"
    new = migrate_config(yaml.safe_load(override))
    assert new["losses"] == {"distillation": {"lambda_lm": 0.7, "lambda_sm": 0.3, "sm": {"target": "rvq1"}},
                             "adversarial": {"weight": 3.0}}
    (tmp_path / "ablation.yaml").write_text(yaml.safe_dump(new, sort_keys=False))
    c = load_config(str(tmp_path / "ablation.yaml"), TrainConfig)
    d = c.losses["distillation"]
    assert (d.kwargs["lambda_sm"], d.kwargs["sm"], d.kwargs["lm"], d.weight) == (0.3, {"target": "rvq1"},
                                                                                 {"target": "rvq1"}, 120.0)
    assert c.losses["adversarial"].weight == 3.0 and c.losses["adversarial"].kwargs == {"kind": "hinge"}
    off = migrate_config({"extends": "base.yaml", "distillation": {"lm": None, "sm": None}})
    assert off["losses"] == {"distillation": None}


def test_command_prints_the_new_form(tmp_path):
    import typer
    from typer.testing import CliRunner

    from tokenizer_bench.plugins.recipes import register_commands

    app = typer.Typer()
    register_commands(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer from collapsing the app into one command
        pass

    (tmp_path / "old.yaml").write_text(OLD_BASE)
    res = CliRunner().invoke(app, ["migrate-config", str(tmp_path / "old.yaml")])
    assert res.exit_code == 0, res.output
    assert "migrated from old.yaml" in res.output and "commitment:" in res.output and "weights" not in res.output
