"""Declares and cythonizes the compiled core; everything else lives in pyproject.toml."""

import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("CIM_ROUTER_DEBUG") == "1"

# cythonize and build_ext go by timestamps alone: after a build in the other mode they
# would keep its generated C and its extension (a debug build taken for a normal one, or
# the reverse). The mode of the last build in this tree is kept here; a change rebuilds.
MODE = "debug" if DEBUG else "normal"
MODE_FILE = Path("build") / "cim-router-build-mode"
MODE_CHANGED = not MODE_FILE.is_file() or MODE_FILE.read_text().strip() != MODE


class BuildExt(build_ext):
    def run(self) -> None:
        self.force = self.force or MODE_CHANGED
        super().run()
        MODE_FILE.parent.mkdir(exist_ok=True)
        MODE_FILE.write_text(MODE + "\n")


extensions = [
    Extension(
        name,
        [f"src/{name.replace('.', '/')}.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O3"],
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            # Invariant checks in the core sit behind `if CIM_DEBUG:` and compile out.
            ("CIM_DEBUG", "1" if DEBUG else "0"),
        ],
    )
    for name in ("cim_router._core", "cim_router._lsap")
]

setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(
        extensions,
        language_level="3",
        force=MODE_CHANGED,
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": DEBUG,
        },
    ),
)
