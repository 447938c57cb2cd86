"""Built-in components. Each sub-package is a plugin registered through the entry-point group
``tokenizer_bench``, exactly as a third-party package would be."""
