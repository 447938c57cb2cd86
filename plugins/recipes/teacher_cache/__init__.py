"""Teacher features computed once per utterance, stored on disk, read by the ``dm_codec_gan`` recipe.

Teachers are frozen, so running a speech-to-text model, a text LM and a speech model at every
training step would only repeat the same computation. The package has one module per job:

* :mod:`.plan` resolves the config's teacher settings into one key per store (no model is built);
* :mod:`.store` reads cached features back without importing or loading any teacher;
* :mod:`.build` runs every enabled teacher once per utterance and writes what :mod:`.store` reads;
* :mod:`.features` gives the recipe the cached features of the training utterances (building what
  is missing first, in a child process).

The types teachers exchange with the cache are in :mod:`tokenizer_bench.core.interfaces_teachers`;
the ``cache-teachers`` command is :mod:`.command`. The package belongs to the recipe, which
reads its settings from the config's ``teachers`` section (:mod:`..gan_distillation_config`).

Layout (``teachers.cache_dir``)::

    transcripts/<key>/<file>.json          text + word timings (STT output, or dataset text + timings)
    lm/<key>/<file>.safetensors            lm [T, D_lm] + lm_mask [T] (bool), on codec frames
    sm/<key>/<file>.safetensors            sm [T, D_sm], on codec frames
    <store>/<key>/settings.json            the settings the key hashes (human-readable)
    reports/<lm-key>_<sm-key>.json         the summary of the last run (skipped files with reasons)

``T = ceil(N / hop)`` where ``N`` is the utterance's length at the codec's sample rate.
Per-utterance files are written atomically (temp file + rename), so an interrupted run leaves only
complete files and a rerun skips what is done.
"""
