"""The desktop supervised trainer (PyQt5), installed as ``dicebox.gui``. The only place with Qt."""
