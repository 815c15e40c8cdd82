"""``python -m rnnkit.cli``: the same as the ``rnnkit`` command."""

from rnnkit.cli import main

main()
