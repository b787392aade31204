#!/usr/bin/env python3
"""Readiness probes for services.sh: one real request per server, standard library only.

An open port is not readiness (Kafka accepts connections before its broker registers, Cassandra
opens 9042 before it can serve queries), and this machine has no kcat, cqlsh or mongosh. So each
probe speaks a few bytes of the server's own wire protocol:

  kafka HOST PORT      Metadata v4 request; ready when at least one broker is listed and
                       FindCoordinator finds a group coordinator.  The latter also creates
                       __consumer_offsets, so the first consumer group of a test run does
                       not wait for it ("group coordinator not available").
  cassandra HOST PORT  CQL native protocol v4: STARTUP, then
                       SELECT release_version FROM system.local.
  mongo HOST PORT      OP_MSG {ping: 1, $db: "admin"}; ready when ok == 1.

Prints one line describing the answer; exit status 0 when ready, 1 otherwise.
"""
import socket
import struct
import sys

TIMEOUT = 5.0


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return buf


# ---------------------------------------------------------------- Kafka
def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def kafka_call(sock, api_key, version, payload):
    # Request header v1: api_key, api_version, correlation_id, client_id.
    body = struct.pack(">hhi", api_key, version, 1) + kstr("streamlens-probe") + payload
    sock.sendall(struct.pack(">i", len(body)) + body)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def probe_kafka(host, port):
    with socket.create_connection((host, port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        # Metadata v4: topics = null (all topics), allow_auto_topic_creation = false.
        resp = kafka_call(s, 3, 4, struct.pack(">i?", -1, False))
        # FindCoordinator v2: key (group id), key_type 0 = group.
        coord = kafka_call(s, 10, 2, kstr("streamlens-probe") + struct.pack(">b", 0))
    pos = 8  # correlation_id, throttle_time_ms
    (nbrokers,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    brokers = []
    for _ in range(nbrokers):
        (node_id,) = struct.unpack_from(">i", resp, pos)
        pos += 4
        (hlen,) = struct.unpack_from(">h", resp, pos)
        pos += 2
        bhost = resp[pos:pos + hlen].decode()
        pos += hlen
        (bport, rlen) = struct.unpack_from(">ih", resp, pos)
        pos += 6 + max(rlen, 0)
        brokers.append("%d@%s:%d" % (node_id, bhost, bport))
    (clen,) = struct.unpack_from(">h", resp, pos)
    cluster = resp[pos + 2:pos + 2 + clen].decode() if clen >= 0 else "?"
    if not brokers:
        print("kafka: metadata lists no broker yet")
        return False
    (coord_error,) = struct.unpack_from(">h", coord, 8)  # after correlation_id, throttle_time_ms
    if coord_error != 0:
        print("kafka: cluster %s, brokers %s, group coordinator not ready (error %d)"
              % (cluster, ",".join(brokers), coord_error))
        return False
    print("kafka: cluster %s, brokers %s, group coordinator ready" % (cluster, ",".join(brokers)))
    return True


# ---------------------------------------------------------------- Cassandra (CQL v4)
def cql_frame(stream, opcode, body):
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def cql_read(sock):
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    return opcode, recv_exact(sock, length)


def cql_error(body):
    code, mlen = struct.unpack_from(">iH", body, 0)
    return "error 0x%04x: %s" % (code, body[6:6 + mlen].decode(errors="replace"))


def probe_cassandra(host, port):
    with socket.create_connection((host, port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        # STARTUP with the string map {CQL_VERSION: 3.0.0}.
        k, v = b"CQL_VERSION", b"3.0.0"
        s.sendall(cql_frame(0, 0x01, struct.pack(">H", 1) + struct.pack(">H", len(k)) + k
                            + struct.pack(">H", len(v)) + v))
        op, body = cql_read(s)
        if op != 0x02:  # READY
            print("cassandra: STARTUP answered opcode 0x%02x %s" % (op, cql_error(body) if op == 0 else ""))
            return False
        q = b"SELECT release_version FROM system.local"
        # QUERY: long string, consistency ONE, flags 0.
        s.sendall(cql_frame(1, 0x07, struct.pack(">i", len(q)) + q + struct.pack(">HB", 0x0001, 0)))
        op, body = cql_read(s)
    if op == 0x00:
        print("cassandra: " + cql_error(body))
        return False
    if op != 0x08:
        print("cassandra: QUERY answered opcode 0x%02x" % op)
        return False
    kind, flags, ncols = struct.unpack_from(">iii", body, 0)
    pos = 12
    if kind != 2:  # Rows
        print("cassandra: unexpected result kind %d" % kind)
        return False

    def read_string(p):
        (n,) = struct.unpack_from(">H", body, p)
        return body[p + 2:p + 2 + n].decode(), p + 2 + n

    if flags & 0x0002:  # has_more_pages: paging state [bytes]
        (n,) = struct.unpack_from(">i", body, pos)
        pos += 4 + max(n, 0)
    if flags & 0x0001:  # global_tables_spec
        _, pos = read_string(pos)
        _, pos = read_string(pos)
    for _ in range(ncols):
        if not flags & 0x0001:
            _, pos = read_string(pos)
            _, pos = read_string(pos)
        _, pos = read_string(pos)
        pos += 2  # type option id (varchar: no extra payload)
    (nrows,) = struct.unpack_from(">i", body, pos)
    pos += 4
    if nrows < 1:
        print("cassandra: system.local returned no row")
        return False
    (n,) = struct.unpack_from(">i", body, pos)
    print("cassandra: release_version %s" % body[pos + 4:pos + 4 + n].decode())
    return True


# ---------------------------------------------------------------- MongoDB wire protocol
def bson_doc(items):
    out = b""
    for key, value in items:
        k = key.encode() + b"\x00"
        if isinstance(value, int):
            out += b"\x10" + k + struct.pack("<i", value)
        else:
            v = value.encode() + b"\x00"
            out += b"\x02" + k + struct.pack("<i", len(v)) + v
    return struct.pack("<i", len(out) + 5) + out + b"\x00"


def bson_top_level(doc):
    """Decodes the scalar top-level fields that a ping answer carries."""
    fields, pos, end = {}, 4, len(doc) - 1
    while pos < end:
        t = doc[pos]
        nul = doc.index(b"\x00", pos + 1)
        key = doc[pos + 1:nul].decode()
        pos = nul + 1
        if t == 0x01:
            fields[key] = struct.unpack_from("<d", doc, pos)[0]; pos += 8
        elif t == 0x10:
            fields[key] = struct.unpack_from("<i", doc, pos)[0]; pos += 4
        elif t == 0x12:
            fields[key] = struct.unpack_from("<q", doc, pos)[0]; pos += 8
        elif t == 0x08:
            fields[key] = doc[pos] != 0; pos += 1
        elif t == 0x02:
            (n,) = struct.unpack_from("<i", doc, pos)
            fields[key] = doc[pos + 4:pos + 3 + n].decode(); pos += 4 + n
        elif t in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", doc, pos); pos += n
        else:
            break  # a type a ping answer does not use: stop, keep what we have
    return fields


def probe_mongo(host, port):
    doc = bson_doc([("ping", 1), ("$db", "admin")])
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0 (body)
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013)  # OP_MSG
    with socket.create_connection((host, port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(header + payload)
        (length, _req, _to, opcode) = struct.unpack("<iiii", recv_exact(s, 16))
        resp = recv_exact(s, length - 16)
    if opcode != 2013 or resp[4] != 0:
        print("mongo: unexpected reply opcode %d" % opcode)
        return False
    fields = bson_top_level(resp[5:])
    if fields.get("ok") != 1:
        print("mongo: ping answered %r" % fields)
        return False
    print("mongo: ping ok")
    return True


def main(argv):
    probes = {"kafka": probe_kafka, "cassandra": probe_cassandra, "mongo": probe_mongo}
    if len(argv) != 4 or argv[1] not in probes:
        print("usage: probe.py kafka|cassandra|mongo HOST PORT", file=sys.stderr)
        return 2
    try:
        return 0 if probes[argv[1]](argv[2], int(argv[3])) else 1
    except (OSError, ConnectionError, struct.error, ValueError, IndexError) as e:
        print("%s: %s" % (argv[1], e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
