"""omd_cli: the `om` (this node, over the unix socket) and `ox` (remote, over TCP/TLS) commands.

Modules: `om` and `ox` (command trees), `events` (the events command shared by both),
`client` (stdlib HTTP client), `output` (renderers), `daemon` (om daemon ...),
`contexts` (ox connection contexts). Heavy imports happen inside commands so `--help` is fast.
"""
