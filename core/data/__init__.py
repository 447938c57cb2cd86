"""Corpora: listing utterances from LibriSpeech folders, JSONL manifests and audio folders."""

from tokenizer_bench.core.data.corpus import FORMATS, Utterance, list_utterances

__all__ = ["FORMATS", "Utterance", "list_utterances"]
