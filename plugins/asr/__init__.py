"""Built-in asr (plugin registered through the `tokenizer_bench` entry-point group)."""
