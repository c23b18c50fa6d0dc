"""Runs the aiohttp app in its own thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from aiohttp import web

SHUTDOWN_GRACE_S = 1.0


class HttpServer:
    def __init__(self, app: web.Application, host: str, port: int):
        self.app, self.host, self.port = app, host, port
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def start(self, timeout: float = 10.0) -> HttpServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("HTTP server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._setup())
        except BaseException as exc:  # surfaced to start()'s caller
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        # Handlers still waiting when the loop stopped (shutdown past its grace) end here, not at garbage
        # collection on a closed loop.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
        self.loop.close()

    async def _setup(self) -> None:
        # In-flight handlers get at most SHUTDOWN_GRACE_S at shutdown; queued API work is cancelled at once.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=SHUTDOWN_GRACE_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server: Any = site._server  # the bound port, when 0 was asked for
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving within ``timeout`` seconds in all: close the listener, cancel queued API work (the
        app's on_shutdown), give running handlers what is left of the grace, then stop the loop."""
        if not self._thread.is_alive():
            return
        deadline = time.monotonic() + timeout

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        future = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        try:
            future.result(max(0.1, deadline - time.monotonic()))
        except Exception:  # the loop is stopped below whatever happened
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(max(0.1, deadline - time.monotonic()))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
