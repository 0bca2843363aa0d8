"""The `acrguard` command line: ``app`` declares the commands; ``run`` holds one command's run (settings,
engine, exit codes); ``render`` draws tables and JSON; ``replay`` reads event files and dead letters."""

from acrguard.cli.app import app, main

__all__ = ["app", "main"]
