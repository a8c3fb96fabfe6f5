"""The bare ASGI "hello" app on the same stack as apf serve.

The stack: uvicorn with apf's protocol subclass of its httptools protocol (one TLS write
per sized response), uvloop, TLS.

Run: python -m bench.hello CERT KEY PORT_FILE
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from apf.server.tlsproto import TlsHttpToolsProtocol

BODY = b'{"major":"1","minor":"29"}'


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"26")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    cert, key, port_file = sys.argv[1:4]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(
        app,
        http=TlsHttpToolsProtocol,
        loop="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        ssl_certfile=cert,
        ssl_keyfile=key,
    )
    server = uvicorn.Server(config)
    Path(port_file).write_text(str(sock.getsockname()[1]))
    uvloop.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
