"""The "Published numbers" table: ours (published) per row the preset's source reports."""

from __future__ import annotations

from tokenizer_bench.benchmarks.harness.published import published_markdown, published_table

META = {"wer": {"display": "WER", "unit": "%", "higher_is_better": False, "display_scale": 1.0, "decimals": 2,
                "ranked": True},
        "stoi": {"display": "STOI", "unit": "", "higher_is_better": True, "display_scale": 1.0, "decimals": 3,
                 "ranked": True}}


def test_rows_the_source_reports_get_ours_and_theirs():
    run = {"metrics": META, "systems": [{"label": "dac", "name": "dac"}, {"label": "mine", "name": "dm_codec"}],
           "preset": {"published": {"source": "Llasa Table 1", "rows": {"dac": {"wer": 2.0, "stoi": 0.95},
                                                                        "mimi": {"wer": 2.96}}}}}
    agg = {"rows": {"dac": {"metrics": {"wer": {"value": 3.5}, "stoi": {"value": 0.9}}}, "mine": {"metrics": {}}}}
    head, body = published_table(run, agg)
    assert head[0] == "System" and len(head) == 3
    assert body[0][0] == "dac" and body[0][1].endswith("(2)") and body[0][2].endswith("(0.95)")
    assert body[0][1].startswith("3.5")
    assert body[1][0] == "mimi (not in this run)" and body[1][1] == "— (2.96)"
    assert "Llasa Table 1" in published_markdown(run, agg)


def test_no_published_numbers_no_section():
    assert published_markdown({"metrics": META, "systems": [], "preset": {"name": "x"}}, {"rows": {}}) == ""
    assert published_table({"metrics": META, "systems": []}, {"rows": {}}) is None
