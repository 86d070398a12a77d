"""A TLS-terminating TCP proxy, so that Temporal clients' TLS meets a real server in tests.

The local stack's Temporal dev server speaks plaintext gRPC only. In front of it, this proxy
does the server's half of TLS with the stack's certificate (and asks for a client certificate,
for mTLS) and relays the decrypted bytes unchanged: gRPC is HTTP/2, which does not care what
carries it, so the frontend answers as if the client had connected to it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

CHUNK = 64 * 1024


def server_context(
    cert_file: Path, key_file: Path, *, client_ca_file: Path | None = None
) -> ssl.SSLContext:
    """The proxy's side of TLS; with `client_ca_file`, clients without a certificate that CA
    signed are refused (mTLS).

    ALPN offers only `h2`: gRPC clients give up on a server that does not agree to HTTP/2.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.set_alpn_protocols(["h2"])
    if client_ca_file is not None:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@contextlib.asynccontextmanager
async def tls_proxy(upstream: str, context: ssl.SSLContext) -> AsyncIterator[str]:
    """Relay TLS connections to the plaintext `upstream` (`host:port`) while in the block;
    gives the `127.0.0.1:port` to connect to.

    Temporal clients keep their connection open until they are garbage-collected, so leaving
    the block closes every connection still relayed, not just the listening socket.
    """
    relays: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        relays[task] = writer
        try:
            await _relay(reader, writer, upstream)
        finally:
            del relays[task]

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        # Cut rather than shut down politely: a TLS close waits for the client's answer.
        for writer in relays.values():
            writer.transport.abort()
        if relays:
            await asyncio.wait(relays, timeout=10)
        await server.wait_closed()


async def _relay(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream: str
) -> None:
    host, _, port = upstream.rpartition(":")
    try:
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        _pipe(client_reader, server_writer),
        _pipe(server_reader, client_writer),
    )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then close `writer` so that its peer sees the end too."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()
