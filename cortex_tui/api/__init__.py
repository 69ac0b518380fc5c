"""The local API: JSON over a unix socket in the run directory (0600), optionally TCP on loopback with a
bearer token. Every endpoint is an engine command or a read of the engine's state — the same code paths
as the TUI and the CLI. ``cortex_tui.api.mcp`` speaks MCP over stdio on top of it."""
