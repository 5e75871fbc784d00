"""Build of omd: the daemon package, the `om`/`ox` CLI package and the C filter matcher.

The C matcher (two extensions, `omd._filter_native` through cffi and `omd._frames`) is
optional: where no C compiler or Python headers are found the build goes on without it, says
so in a warning, and omd uses the pure-Python twin of the matcher (omd/filters/_python.py),
which has the same semantics and is slower (docs/filters.md). `omd` logs which one it runs
(`filter_matcher_selected`). To get the C matcher, install a compiler and the headers
(Debian: `apt install gcc python3-dev`) and install again.
"""

import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

NO_COMPILER_WARNING = """\
omd: WARNING: the C filter matcher extension {name} was not built: {error}
omd: building without it; filters will run in pure Python (same results, slower).
omd: for the C matcher install a C compiler and the Python headers (Debian: apt install gcc
omd: python3-dev) and install omd again."""


class OptionalBuildExt(build_ext):
    """build_ext that skips an extension it cannot compile (no compiler, no headers), with a
    warning, instead of failing the whole install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # the compiler is probed before any extension is built
            self._skip("(all)", exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, DistutilsExecError, OSError
            self._skip(ext.name, exc)

    @staticmethod
    def _skip(name: str, exc: Exception) -> None:
        print(NO_COMPILER_WARNING.format(name=name, error=exc), file=sys.stderr)

setup(
    name="omd",
    version="0.1.0",
    description="OpenSVC-style node daemon event system: bus, SSE gateway, filters, CLI",
    python_requires=">=3.11",
    packages=find_packages(include=["omd", "omd.*"]) + ["omd_cli"],
    package_dir={"omd_cli": "cli"},
    package_data={"omd.subsystems.gateway": ["openapi.json"]},
    # Installed under <prefix>/share/doc/omd: systemd/omd.service's Documentation= names it.
    data_files=[("share/doc/omd", ["README.md", "conf/omd.toml", "systemd/omd.service"])],
    install_requires=[
        "pyzmq>=25.1",
        "msgspec>=0.18.6",
        "cffi>=1.16",
        "click>=8.1",
        "structlog>=24.1",
        # HTTP server of the gateway: a well-kept async server instead of hand-written HTTP.
        "aiohttp>=3.9",
        # /metrics exposition format.
        "prometheus_client>=0.19",
        # Config file and frozen flag watching (inotify, with a polling fallback).
        "watchdog>=4.0",
        # `om ... -o yaml` (upstream's format): a YAML emitter that quotes what must be quoted.
        "pyyaml>=6.0",
    ],
    extras_require={
        "test": [
            "pytest>=8.0",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            # Independent HTTP and SSE clients for the gateway tests.
            "httpx>=0.27",
            "httpx-sse>=0.4",
            # Property-based API runs driven by docs/openapi.json (slow suite).
            "schemathesis>=4.0",
        ],
    },
    entry_points={
        "console_scripts": [
            "omd=omd.main:main",
            "om=omd_cli.om:main",
            "ox=omd_cli.ox:main",
        ],
    },
    cffi_modules=["native/build_matcher.py:ffibuilder"],
    # Frame tables for the matcher's batch call: cffi cannot reach the buffer of a `bytes`
    # without a per-object cdata (~150 ns), this reads PyBytes_AS_STRING directly.
    ext_modules=[Extension("omd._frames", ["native/frames.c"], include_dirs=["native"],
                           extra_compile_args=["-std=c99", "-O2"])],
    cmdclass={"build_ext": OptionalBuildExt},
    zip_safe=False,
)
