"""omd: a re-implementation of the OpenSVC node daemon's event system.

The package holds one module or sub-package per daemon subsystem process, plus the
libraries they share (event model, wire format, filters, templates).
"""

__version__ = "0.1.0"
