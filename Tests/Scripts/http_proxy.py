#!/usr/bin/env python3
"""A small HTTP proxy for the OIFDE client's proxy tests: CONNECT tunnels (HTTPS) and absolute-form
requests (plain HTTP), optional basic credentials (407 without them). Each request line it takes
is appended to LOG. Usage: http_proxy.py PORT LOG [USER:PASSWORD]; with PORT 0 the system picks a
free port, which is written to LOG.port once the proxy listens."""
import asyncio, base64, sys

port, log = int(sys.argv[1]), sys.argv[2]
credentials = sys.argv[3] if len(sys.argv) > 3 else None


def record(line):
    with open(log, "a") as f:
        f.write(line + "\n")


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()


async def handle(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    record(f"{method} {target}")
    if credentials:
        expected = "Basic " + base64.b64encode(credentials.encode()).decode()
        if headers.get("proxy-authorization") != expected:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
    if method == "CONNECT":
        host, p = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(p))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        return
    # Absolute form: forward the request with an origin-form target, one request per connection.
    rest = target.split("://", 1)[1]
    authority, _, path = rest.partition("/")
    host, _, p = authority.partition(":")
    up_reader, up_writer = await asyncio.open_connection(host, int(p or 80))
    kept = [l for l in lines[1:] if l and not l.lower().startswith(("proxy-authorization", "connection"))]
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    up_writer.write((f"{method} /{path} HTTP/1.1\r\n" + "\r\n".join(kept) + "\r\nConnection: close\r\n\r\n").encode("latin-1") + body)
    await up_writer.drain()
    # This proxy closes the client's connection after one answer, so it says so: a client that saw
    # a keep-alive answer would rightly send its next request on a connection being closed.
    response_head = (await up_reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    response_head = [l for l in response_head if l and not l.lower().startswith("connection:")]
    writer.write(("\r\n".join(response_head) + "\r\nConnection: close\r\n\r\n").encode("latin-1"))
    await pipe(up_reader, writer)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    with open(log + ".port.tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    import os
    os.rename(log + ".port.tmp", log + ".port")
    async with server:
        await server.serve_forever()


asyncio.run(main())
