"""Built-in training recipes, a plugin registered through the ``tokenizer_bench`` entry-point group.

Every public module here may define ``register_recipes(register)``; this package forwards the
hook to them, so adding a recipe is adding a file. The package also adds the
``migrate-config`` command (:mod:`.migrate`) that rewrites configs of the older form, and
``cache-teachers`` (:mod:`.teacher_cache.command`), which fills the ``dm_codec_gan`` recipe's
teacher cache ahead of training.
"""

from typing import Any

from tokenizer_bench.core.hookspecs import hookimpl
from tokenizer_bench.core.plugins import forward_to_submodules

(register_recipes,) = forward_to_submodules(__name__, "register_recipes")


@hookimpl
def register_commands(cli: Any) -> None:
    from tokenizer_bench.plugins.recipes.migrate import add_commands
    from tokenizer_bench.plugins.recipes.teacher_cache.command import add_commands as add_cache_commands

    add_commands(cli)
    add_cache_commands(cli)
