"""Built-in tokenizers (plugin registered through the `tokenizer_bench` entry-point group)."""
