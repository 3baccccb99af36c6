"""Importing the evolution code and starting ``dicebox evolve`` load neither TensorFlow nor pika."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dicebox.evolution

CHECK = """
import sys
import dicebox.evolution
from dicebox.evolution import (champion, dataset, evaluators, events, fake_fitness, fitness, operators, training_orders,
                               run_folder, search, taxonomy)
import dicebox.cli.evolve, dicebox.cli.worker, dicebox.cli.evolve_progress
from dicebox.cli import build_parser
build_parser()
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "pika", "PyQt5", "flask"})
print(",".join(heavy) or "clean")
"""


def test_evolution_imports_without_tensorflow_or_pika():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "clean"


def test_pika_only_in_modules_named_rabbit():
    folder = Path(dicebox.evolution.__file__).parent
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        if any(n.split(".")[0] == "pika" for n in names):
            assert "rabbit" in path.name, path
