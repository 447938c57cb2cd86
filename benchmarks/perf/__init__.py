"""Performance measurements of tokenizer-bench (benchmarks, not tests)."""
