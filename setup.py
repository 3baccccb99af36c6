"""dicebox's one build step that pyproject.toml cannot say: where the packages come from.

The metadata (name, version, dependencies, the roles' extras) is in pyproject.toml. Here the
top-level ``gui/``, ``camera/`` and ``assets/`` folders are installed inside the ``dicebox``
namespace (``dicebox.gui``, ``dicebox.camera``, ``dicebox.assets``), so they never collide with
other packages named ``gui`` or ``camera``, with their data files (icons, the web client's page).
In a source checkout, ``pip install -e .`` keeps this mapping live (setuptools' editable finder):
nothing in dicebox changes its own import path at run time.
"""

from setuptools import find_packages, setup


def _mapped(folder: str) -> dict:
    """Packages found under a top-level folder, renamed into the dicebox namespace."""
    names = [folder] + [f"{folder}.{sub}" for sub in find_packages(folder)]
    return {f"dicebox.{name}": name.replace(".", "/") for name in names}


MAPPED = {**_mapped("camera"), **_mapped("gui"), "dicebox.assets": "assets"}

setup(
    license="MIT",  # here, not in pyproject.toml: see the note there
    packages=find_packages(include=["dicebox", "dicebox.*"]) + sorted(MAPPED),
    package_dir=MAPPED,
    package_data={
        "dicebox.assets": ["*.png", "*.svg", "*.ico", "*.icns", "*.desktop"],
        "dicebox.service.web": ["*.html", "*.js", "*.css"],
    },
    include_package_data=True,
)
