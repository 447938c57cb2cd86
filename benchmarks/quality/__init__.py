"""Quality benchmarks: train variants at an equal budget and score them through the harness."""
