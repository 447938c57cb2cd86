"""Built-in losses (plugin registered through the `tokenizer_bench` entry-point group)."""
