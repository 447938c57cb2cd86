"""Built-in metrics (plugin registered through the `tokenizer_bench` entry-point group)."""
