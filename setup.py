"""Build of omd: the daemon package, the `om`/`ox` CLI package and the C filter matcher."""

from setuptools import setup

setup(
    name="omd",
    version="0.1.0",
    description="OpenSVC-style node daemon event system: bus, SSE gateway, filters, CLI",
    python_requires=">=3.11",
    packages=["omd", "omd.gotemplate", "omd_cli"],
    package_dir={"omd": "omd", "omd_cli": "cli"},
    package_data={"omd": ["default.toml"]},
    install_requires=[
        "pyzmq>=25.1",
        "msgspec>=0.18.6",
        "cffi>=1.16",
        "click>=8.1",
        "structlog>=24.1",
    ],
    extras_require={
        "test": [
            "pytest>=8.0",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
        ],
    },
    entry_points={
        "console_scripts": [
            "omd=omd.main:main",
            "om=omd_cli.om:main",
            "ox=omd_cli.ox:main",
        ],
    },
    zip_safe=False,
)
