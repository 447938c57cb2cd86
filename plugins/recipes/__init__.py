"""Built-in training recipes, a plugin registered through the ``tokenizer_bench`` entry-point group.

Every public module here may define ``register_recipes(register)``; this package
forwards the hook to them, so adding a component is adding a file.
"""

from tokenizer_bench.core.plugins import forward_to_submodules

(register_recipes,) = forward_to_submodules(__name__, 'register_recipes')
