"""One module or package per subsystem process (bus, journal, gateway, event sources)."""
