"""The daemon's process plumbing: the supervisor, the subsystem registry and runtime, readiness."""
