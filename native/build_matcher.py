"""cffi build script of the C filter matcher: API mode, out-of-line, module `omd._filter_native`.

Referenced by setup.py (``cffi_modules``), so ``pip install -e .`` builds it. ``OMD_SANITIZE=1``
builds with AddressSanitizer and UndefinedBehaviorSanitizer (``-g -O1``) for debugging; such a
module only loads with libasan preloaded (see docs/filters.md, "Fuzzing").
"""

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
# setuptools wants source paths relative to setup.py; the build runs from the project root.
SRC = os.path.relpath(HERE)


def _cdef() -> str:
    with open(os.path.join(HERE, "matcher.h")) as f:
        header = f.read()
    return re.search(r"/\* CDEF-BEGIN \*/(.*)/\* CDEF-END \*/", header, re.S).group(1)


if os.environ.get("OMD_SANITIZE") == "1":
    _flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
              "-fno-omit-frame-pointer", "-g", "-O1"]
    _link = ["-fsanitize=address,undefined"]
else:
    _flags = ["-O3"]
    _link = []

ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "omd._filter_native",
    '#include "matcher.h"',
    sources=[os.path.join(SRC, "matcher.c")],
    include_dirs=[SRC],
    extra_compile_args=["-std=c99", *_flags],
    extra_link_args=_link,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
