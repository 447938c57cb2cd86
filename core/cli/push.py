"""``tokenizer-bench push EXPORT_DIR REPO_ID``: publish a trained tokenizer on the Hugging Face hub.

Wired in by :mod:`core.cli.commands`; the work is :func:`core.publish.push_export` (shared with
``Tokenizer.push_to_hub``), so the CLI and the API upload the same files and the same card.
"""

from __future__ import annotations

from typing import Optional

import typer


def add_commands(app: typer.Typer) -> None:
    @app.command("push")
    def push_command(
        export_dir: str = typer.Argument(..., help="An exported tokenizer folder (e.g. runs/NAME/tokenizer)."),
        repo_id: str = typer.Argument(..., help="Hub model repo, owner/name (created when missing)."),
        private: bool = typer.Option(False, "--private", help="Create the repo private (if it does not exist yet)."),
        compare_results: Optional[str] = typer.Option(
            None, "--compare-results", help="results.md of a `tokenizer-bench compare` run, copied into the card."
        ),
        branch: Optional[str] = typer.Option(
            None, "--branch", "--revision", help="Commit to this branch (created from main when missing)."
        ),
        message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
        token: Optional[str] = typer.Option(None, "--token", help="Hub token (default: HF_TOKEN or `hf auth login`)."),
        tokenizer: Optional[str] = typer.Option(
            None, "--tokenizer", "-t", help="Registered tokenizer name, if the folder's JSON files do not say it."
        ),
    ) -> None:
        """Upload an exported tokenizer with a generated model card; load it back with load_tokenizer(name, REPO_ID)."""
        from tokenizer_bench.core.publish import push_export

        url = push_export(export_dir, repo_id, compare_results=compare_results, private=private, branch=branch,
                          commit_message=message, token=token, tokenizer_name=tokenizer)
        typer.echo(f"pushed {export_dir} -> {repo_id}: {url}")
