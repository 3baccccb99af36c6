"""dicebox: teach a computer to recognise what a camera sees.

The top-level ``gui/`` and ``camera/`` folders are installed inside the ``dicebox`` namespace
(``dicebox.gui``, ``dicebox.camera``) so they never collide with other packages named ``gui`` or
``camera``.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "dicebox" / "__init__.py").read_text()).group(1)


def _mapped(folder: str) -> dict:
    """Packages found under a top-level folder, renamed into the dicebox namespace."""
    names = [folder] + [f"{folder}.{sub}" for sub in find_packages(folder)]
    return {f"dicebox.{name}": name.replace(".", "/") for name in names}


MAPPED = {**_mapped("camera"), **_mapped("gui"), "dicebox.assets": "assets"}

# TensorFlow's CPU-only wheel exists for Linux and Windows on x86-64; everywhere else (macOS,
# aarch64) the regular wheel is the one to install.
TF_CPU_PLATFORMS = (
    '(sys_platform == "linux" or sys_platform == "win32")'
    ' and (platform_machine == "x86_64" or platform_machine == "AMD64")'
)

setup(
    name="dicebox",
    version=VERSION,
    description="Desktop tool and services to teach a computer to recognise what a camera sees",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["dicebox", "dicebox.*"]) + sorted(MAPPED),
    package_dir=MAPPED,
    package_data={"dicebox.assets": ["*.png", "*.svg", "*.ico", "*.icns", "*.desktop"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.26",
        "opencv-python-headless>=4.8",
        "flask>=3.0",
        "waitress>=3.0",
        "requests>=2.31",
        "pika>=1.3",
        "tqdm>=4.66",
        "PyQt5>=5.15",
        f"tensorflow-cpu>=2.16; {TF_CPU_PLATFORMS}",
        'tensorflow>=2.16; sys_platform != "linux" and sys_platform != "win32"',
        'tensorflow>=2.16; (sys_platform == "linux" or sys_platform == "win32")'
        ' and platform_machine != "x86_64" and platform_machine != "AMD64"',
        "matplotlib>=3.8",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-qt>=4.4",
            "pytest-timeout>=2.3",
            "schemathesis>=3.30",
            "ruff>=0.5",
        ],
        "packaging": ["pyinstaller>=6.5"],
    },
    entry_points={
        "console_scripts": ["dicebox=dicebox.cli:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: OS Independent",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)
