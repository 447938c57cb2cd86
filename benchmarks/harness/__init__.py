"""The benchmark harness: tokenizers x evaluation set -> reconstructions -> metrics -> reports.

Modules, one job each:

- :mod:`.dataset` — evaluation sets (LibriSpeech folders, JSONL manifests) and the reproducible
  ``--num-samples/--seed`` draw;
- :mod:`.systems` — ``name[:checkpoint]`` specs, loading every tokenizer before any work;
- :mod:`.selection` — which metrics run (VERSA-style: unmet needs disable a metric with a
  reason, or stop the run when the user asked for that metric) and the ASR backend;
- :mod:`.scoring` — resampling/length matching and metric evaluation for one utterance;
- :mod:`.records` — the resumable per-utterance JSONL store;
- :mod:`.runner` — the ``compare`` pipeline;
- :mod:`.presets` — ``--preset NAME`` from ``benchmarks/harness/presets.yaml``, checked before any work;
- :mod:`.shards` — ``--shard I/N`` and the merge of shard folders (``compare-merge``);
- :mod:`.consistency` — batched-vs-single and chunked-vs-whole encoding checks;
- :mod:`.aggregate`, :mod:`.significance` (almost stochastic order), :mod:`.report`,
  :mod:`.plots` — tables, significance, figures and the self-contained HTML report;
- :mod:`.cli` — ``add_commands(app)`` adds ``tokenizer-bench compare`` and ``compare-merge``.
"""
