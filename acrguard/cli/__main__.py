"""``python -m acrguard.cli``."""

from acrguard.cli import main

main()
