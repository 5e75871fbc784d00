"""The event model shared by every process and client: kinds, wire frames, SSE frames, state."""
