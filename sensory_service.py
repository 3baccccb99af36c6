#!/usr/bin/env python3
"""Start the dicebox sensory service: the same as ``dicebox serve`` (takes the same flags)."""

import sys

from dicebox.cli import entry

if __name__ == "__main__":
    entry(["serve", *sys.argv[1:]])
