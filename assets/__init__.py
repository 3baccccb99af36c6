"""Icons, screenshots and pictures shipped with dicebox (installed as ``dicebox.assets``)."""
