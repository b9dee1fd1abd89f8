#!/usr/bin/env python3
"""An OIFDE stand-in that misbehaves on the wire in one scripted way, for the OIFDE client's wire
tests. gettoken is always answered normally (keep-alive); changeWorkMode as SCENARIO says. Each
changeWorkMode request it reads is appended to LOG as "changeWorkMode conn=<n>"; the port is
written to LOG.port once it listens. Usage:
  scripted_oifde.py SCENARIO LOG [CERT KEY]     (with CERT and KEY: TLS)
Scenarios:
  close-after-response  keep-alive answer (no Connection: close), then the server closes at once
  close-when-idle       keep-alive answer, then the server closes after 300 ms without a request
                        (from the first answer on: a new connection waits for its first request)
  connection-close      answer with Connection: close, then close
  http10                HTTP/1.0 answer without Content-Length: the body is read to the close
  read-to-close         HTTP/1.1 answer without Content-Length, Connection: close, read to close
                        (over TLS the server closes without close_notify)
  chunked               chunked answer in three chunks
  interim               100 Continue and 103 Early Hints before the answer
  oversized-headers     an answer whose header block is 200 KB
  drop-mid-answer       reads the request, sends the head and half the body, then closes
  hang                  reads the request and never answers
  stall-handshake       accepts TCP and never reads (a TLS handshake never completes)
"""
import socket, ssl, sys, threading, time

scenario, log = sys.argv[1], sys.argv[2]
context = None
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])

BODY = b'{"errorCode":"0","errorMsg":"success"}'
TOKEN = b'{"errorCode":"0","errorMsg":"success","authToken":"scripted-token","expireTime":3600}'
lock = threading.Lock()
connections = [0]
held = []


def record(line):
    with lock:
        with open(log, "a") as f:
            f.write(line + "\n")


def read_request(sock, buffered):
    """One request (head and Content-Length body) from sock; (path, rest) or (None, b"") at the end."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        rest += chunk
    return path, rest[length:]


def answer(body, extra=b"", version=b"HTTP/1.1"):
    return version + b" 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body


def serve(sock, number):
    buffered = b""
    try:
        if scenario == "stall-handshake":
            held.append(sock)
            time.sleep(3600)
            return
        if context is not None:
            sock = context.wrap_socket(sock, server_side=True)
        while True:
            try:
                path, buffered = read_request(sock, buffered)
            except socket.timeout:
                break
            if path is None:
                break
            if "gettoken" in path:
                sock.sendall(answer(TOKEN))
                continue
            record(f"changeWorkMode conn={number}")
            if scenario in ("close-after-response", "close-when-idle"):
                sock.sendall(answer(BODY))
                if scenario == "close-after-response":
                    break
                sock.settimeout(0.3)
            elif scenario == "connection-close":
                sock.sendall(answer(BODY, b"Connection: close\r\n"))
                break
            elif scenario == "http10":
                sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY)
                break
            elif scenario == "read-to-close":
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + BODY)
                break
            elif scenario == "chunked":
                chunks = [BODY[:10], BODY[10:20], BODY[20:]]
                out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                for chunk in chunks:
                    out += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
                sock.sendall(out + b"0\r\n\r\n")
            elif scenario == "interim":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
                sock.sendall(answer(BODY))
            elif scenario == "oversized-headers":
                sock.sendall(answer(BODY, b"X-Padding: " + b"a" * 200_000 + b"\r\n"))
                break
            elif scenario == "drop-mid-answer":
                whole = answer(BODY)
                sock.sendall(whole[: len(whole) - len(BODY) // 2])
                break
            elif scenario == "hang":
                held.append(sock)
                time.sleep(3600)
                return
    except (OSError, ssl.SSLError):
        pass
    try:
        # Without close_notify over TLS: close the raw socket, as a peer that just goes away.
        sock.close()
    except OSError:
        pass


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(128)
with open(log + ".port", "w") as f:
    f.write(str(listener.getsockname()[1]))
while True:
    connection, _ = listener.accept()
    connections[0] += 1
    threading.Thread(target=serve, args=(connection, connections[0]), daemon=True).start()
