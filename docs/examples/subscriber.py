#!/usr/bin/env python3
"""Print omd bus events: subscriber.py ENDPOINT [KIND ...]"""
import json
import sys

import zmq

endpoint, kinds = sys.argv[1], sys.argv[2:]
topics = [kind.encode() + b"\0" for kind in kinds] or [b""]
ctx = zmq.Context()
sock = ctx.socket(zmq.SUB)
sock.setsockopt(zmq.LINGER, 0)
for topic in topics:
    sock.setsockopt(zmq.SUBSCRIBE, topic)
# Announce the subscriptions again after the bus restarts (libzmq may leave them silent).
monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
sock.connect(endpoint)
poller = zmq.Poller()
poller.register(sock, zmq.POLLIN)
poller.register(monitor, zmq.POLLIN)
handshakes = 0
last_seq = {}
try:
    while True:
        ready = dict(poller.poll())
        if monitor in ready:
            monitor.recv_multipart()
            handshakes += 1
            if handshakes > 1:  # a reconnect; subscribe first, so the topic is never cancelled
                for topic in topics:
                    sock.setsockopt(zmq.SUBSCRIBE, topic)
                    sock.setsockopt(zmq.UNSUBSCRIBE, topic)
        if sock not in ready:
            continue
        frames = sock.recv_multipart()
        if len(frames) != 3:
            continue  # not an omd message
        topic, meta, data = frames
        kind, *labels = topic.rstrip(b"\0").decode().split("\0")
        try:
            meta, data = json.loads(meta), json.loads(data)
        except ValueError:
            continue
        key = (meta["pub"], kind)
        if key in last_seq and meta["seq"] > last_seq[key] + 1:
            print(f"LOST {meta['seq'] - last_seq[key] - 1} {kind} from {meta['pub']}", flush=True)
        last_seq[key] = meta["seq"]
        print(json.dumps({"kind": kind, "labels": dict(l.split("=", 1) for l in labels),
                          "at": meta["at"], "origin": meta["origin"], "seq": meta["seq"],
                          "data": data}), flush=True)
except KeyboardInterrupt:
    pass
finally:
    sock.disable_monitor()
    monitor.close()
    sock.close()
    ctx.term()
