"""Built-in teachers (plugin registered through the `tokenizer_bench` entry-point group)."""
