"""tokenizer-bench package."""
