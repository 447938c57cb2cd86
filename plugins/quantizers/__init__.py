"""Built-in quantizers (plugin registered through the `tokenizer_bench` entry-point group)."""
