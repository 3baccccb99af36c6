"""``python -m dicebox``: the same as the ``dicebox`` command."""

from dicebox.cli import entry

entry()
