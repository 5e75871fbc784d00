#!/usr/bin/env python3
"""Print omd bus events from a CURVE-protected TCP endpoint:

    curve_subscriber.py ENDPOINT SERVER_PUBLIC_KEY CLIENT_KEY_SECRET_FILE [KIND ...]

SERVER_PUBLIC_KEY is the Z85 public key of the bus (or a zmq.auth `.key` file holding it);
CLIENT_KEY_SECRET_FILE is this client's `.key_secret` file, whose public key is listed in the
daemon's `[bus] curve_client_keys`. Prints one JSON line per event, like subscriber.py.
"""
import json
import os
import sys

import zmq
import zmq.auth

endpoint, server_key, client_file, kinds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if os.path.exists(server_key):
    server_public, _ = zmq.auth.load_certificate(server_key)
else:
    server_public = server_key.encode()
client_public, client_secret = zmq.auth.load_certificate(client_file)
ctx = zmq.Context()
sock = ctx.socket(zmq.SUB)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
sock.setsockopt(zmq.CURVE_PUBLICKEY, client_public)
sock.setsockopt(zmq.CURVE_SECRETKEY, client_secret)
for kind in kinds or [""]:
    sock.setsockopt(zmq.SUBSCRIBE, kind.encode() + b"\0" if kind else b"")
sock.connect(endpoint)
try:
    while True:
        frames = sock.recv_multipart()
        if len(frames) != 3:
            continue  # not an omd message
        topic, meta, data = frames
        kind, *labels = topic.rstrip(b"\0").decode().split("\0")
        try:
            meta, data = json.loads(meta), json.loads(data)
        except ValueError:
            continue
        print(json.dumps({"kind": kind, "labels": dict(l.split("=", 1) for l in labels),
                          "origin": meta["origin"], "seq": meta["seq"], "data": data}), flush=True)
except KeyboardInterrupt:
    pass
finally:
    sock.close()
    ctx.term()
