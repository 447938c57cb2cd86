"""Built-in encoders (plugin registered through the `tokenizer_bench` entry-point group)."""
