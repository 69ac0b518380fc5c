"""A client of the local API over the run's unix socket (used by the MCP server; any program may do the same)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from cortex_tui.errors import CortexError, RefusedError


class ApiError(CortexError):
    """The API answered with an error (its message and hint, as the CLI would print them)."""

    def __init__(self, status: int, message: str, hint: str | None = None, *, key_hint: str | None = None) -> None:
        super().__init__(message, hint, key_hint=key_hint)
        self.status = status


class ApiClient:
    def __init__(self, socket: Path, origin: str = "api") -> None:
        self.socket = socket
        self.origin = origin
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(self.socket)),
                                              base_url="http://cortex", headers={"X-Cortex-Origin": self.origin})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      params: dict[str, str] | None = None) -> Any:
        if self._session is None:
            raise RuntimeError("use `async with ApiClient(...)`")
        try:
            async with self._session.request(method, path, json=body, params=params) as r:
                text = await r.text()
                data = json.loads(text) if text else None
                if r.status >= 400:
                    msg = data.get("error", text) if isinstance(data, dict) else text
                    hint = data.get("hint") if isinstance(data, dict) else None
                    key_hint = data.get("key_hint") if isinstance(data, dict) else None
                    if r.status == 409:
                        raise RefusedError(str(msg), hint, key_hint=key_hint)
                    raise ApiError(r.status, str(msg), hint, key_hint=key_hint)
                return data
        except aiohttp.ClientConnectionError as e:
            raise CortexError(f"the run's supervisor does not answer on {self.socket}: {e}",
                              "is it still running? `cortex-tui status --repo R`") from e

    async def get(self, path: str, **params: str) -> Any:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.request("POST", path, body)
