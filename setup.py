"""Declares and cythonizes the compiled core; everything else lives in pyproject.toml."""

import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CIM_ROUTER_DEBUG") == "1"

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
    # The joint-matching solver may be absent on a branch that predates it.
    if os.path.exists(f"src/{name.replace('.', '/')}.pyx")
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level="3",
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": DEBUG,
        },
    ),
)
