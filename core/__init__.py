"""Core of tokenizer-bench: interfaces, plugin system, configs, audio I/O, trainer and CLI.

Core knows interfaces, never concrete components: those arrive through the plugin hooks.
"""
