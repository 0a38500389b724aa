"""``python -m dwh`` runs the CLI."""

from dwh.cli import main

main()
