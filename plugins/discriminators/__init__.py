"""Built-in discriminators (plugin registered through the `tokenizer_bench` entry-point group)."""
