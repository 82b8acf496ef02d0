#!/usr/bin/env python3
"""Maelstrom test nodes, written from Maelstrom's published protocol only (no splitbrain import).

``pynode.py WORKLOAD [--wrong]``: a correct node for WORKLOAD, or one with a
classic mistake the harness must catch. ``pynode.py bad-MODE``: a node that
misbehaves at the protocol level.

correct / wrong:
  echo
  lin-kv          every op through the lin-kv service / reads served from a local cache
  g-set           full-state gossip, persisted / forward each add once, no retries
  broadcast       full-state gossip to topology neighbours, persisted / forward once
  g-counter       seq-kv read + cas loop, synced read / read then blind write (loses increments)
  pn-counter      the same node as g-counter
  txn-list-append whole db as one lin-kv value, cas / each node's own local db
  unique-ids      node + boot id + counter / a bare counter (collides across nodes)
bad modes: bad-exit, bad-noinit, bad-flood, bad-irt
"""

import json
import os
import sys
import threading
import time
import uuid

OUT = threading.Lock()


def send(dest, body):
    with OUT:
        sys.stdout.write(json.dumps({"src": NODE["id"], "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()


def reply(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


NODE = {"id": None, "ids": [], "neighbours": []}
PENDING = {}
NEXT = [0]
LOCK = threading.Lock()


def rpc(dest, body, timeout=1.0):
    """Call a service or node and wait for the answer (None on timeout)."""
    with LOCK:
        NEXT[0] += 1
        mid = NEXT[0]
        ev = threading.Event()
        PENDING[mid] = [ev, None]
    send(dest, {**body, "msg_id": mid})
    ev.wait(timeout)
    with LOCK:
        return PENDING.pop(mid)[1]


class Store:
    """A set persisted to a file in the node's working directory (survives kill -9)."""

    def __init__(self, path):
        self.path = path
        self.items = set()
        if os.path.exists(path):
            with open(path) as fh:
                self.items = {json.loads(x) for x in fh if x.strip()}
        self.fh = open(path, "a")
        self.lock = threading.Lock()

    def add_all(self, xs):
        with self.lock:
            return self._add_all(xs)

    def _add_all(self, xs):
        new = [x for x in xs if x not in self.items]
        for x in new:
            self.items.add(x)
            self.fh.write(json.dumps(x) + "\n")
        if new:
            self.fh.flush()
            os.fsync(self.fh.fileno())
        return new


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "echo"
    mode = "g-counter" if mode == "pn-counter" else mode  # the same node serves both counters
    wrong = "--wrong" in sys.argv
    if mode == "bad-exit":
        print("bad-exit: giving up at start", file=sys.stderr)
        sys.exit(1)
    store = {"set": None, "kv": {}, "count": 0, "boot": uuid.uuid4().hex[:8]}

    def gossip_loop():
        while True:
            time.sleep(0.2)
            s = store["set"]
            if s is None or wrong:
                continue
            peers = NODE["neighbours"] if mode == "broadcast" else [n for n in NODE["ids"] if n != NODE["id"]]
            items = sorted(s.items, key=json.dumps)
            for p in peers:
                send(p, {"type": "gossip", "items": items})

    def flood():
        while True:
            with OUT:
                sys.stdout.write("this is not json " * 8 + "\n")

    def handle(msg):
        body = msg["body"]
        typ = body["type"]
        irt = body.get("in_reply_to")
        if irt is not None:
            with LOCK:
                if irt in PENDING:
                    PENDING[irt][1] = body
                    PENDING[irt][0].set()
            return
        if typ == "init":
            if mode == "bad-noinit":
                return
            if mode == "bad-flood":  # floods stdout with junk instead of answering
                threading.Thread(target=flood, daemon=True).start()
                return
            NODE["id"], NODE["ids"] = body["node_id"], body["node_ids"]
            store["set"] = Store(f"{mode}-{NODE['id']}.set") if mode in ("g-set", "broadcast") else None
            reply(msg, {"type": "init_ok"})
            return
        if mode == "bad-irt":  # answers, but to a request nobody sent
            send(msg["src"], {"type": typ + "_ok", "in_reply_to": 10 ** 6 + body.get("msg_id", 0)})
            return
        if typ == "topology":
            NODE["neighbours"] = body["topology"].get(NODE["id"], [])
            reply(msg, {"type": "topology_ok"})
        elif typ == "echo":
            reply(msg, {"type": "echo_ok", "echo": body["echo"]})
        elif typ == "gossip":
            store["set"].add_all(body["items"])
        elif typ in ("add", "broadcast") and mode in ("g-set", "broadcast"):
            item = body["element"] if typ == "add" else body["message"]
            new = store["set"].add_all([item])
            if wrong and new:
                peers = NODE["neighbours"] if mode == "broadcast" else [n for n in NODE["ids"] if n != NODE["id"]]
                for p in peers:
                    if p != msg["src"]:
                        send(p, {"type": "gossip", "items": [item]})
            reply(msg, {"type": typ + "_ok"})
        elif typ == "read" and mode in ("g-set", "broadcast"):
            field = "messages" if mode == "broadcast" else "value"
            reply(msg, {"type": "read_ok", field: sorted(store["set"].items, key=json.dumps)})
        elif mode == "lin-kv" and typ in ("read", "write", "cas"):
            key = body["key"]
            if wrong and typ == "read" and key in store["kv"]:
                reply(msg, {"type": "read_ok", "value": store["kv"][key]})
                return
            fwd = {k: v for k, v in body.items() if k != "msg_id"}
            ans = rpc("lin-kv", fwd)
            if ans is None:
                reply(msg, {"type": "error", "code": 0, "text": "lin-kv timed out"})
                return
            if ans["type"] == "read_ok":
                store["kv"][key] = ans["value"]
            elif ans["type"] == "write_ok":
                store["kv"][key] = body["value"]
            elif ans["type"] == "cas_ok":
                store["kv"][key] = body["to"]
            reply(msg, {k: v for k, v in ans.items() if k not in ("in_reply_to", "msg_id")})
        elif mode == "g-counter" and typ == "add":
            for _ in range(50):
                cur = rpc("seq-kv", {"type": "read", "key": "counter"})
                if cur is None:
                    break
                v = cur.get("value", 0) if cur["type"] == "read_ok" else 0
                if wrong:
                    rpc("seq-kv", {"type": "write", "key": "counter", "value": v + body["delta"]})
                    reply(msg, {"type": "add_ok"})
                    return
                ans = rpc("seq-kv", {"type": "cas", "key": "counter", "from": v, "to": v + body["delta"],
                                     "create_if_not_exists": True})
                if ans is not None and ans["type"] == "cas_ok":
                    reply(msg, {"type": "add_ok"})
                    return
                if ans is None:
                    break
            reply(msg, {"type": "error", "code": 0, "text": "could not add"})
        elif mode == "g-counter" and typ == "read":
            if not wrong:  # a write moves this node's seq-kv view to the newest state
                store["count"] += 1
                rpc("seq-kv", {"type": "write", "key": f"sync-{NODE['id']}", "value": store["count"]})
            cur = rpc("seq-kv", {"type": "read", "key": "counter"})
            if cur is None:
                reply(msg, {"type": "error", "code": 0, "text": "seq-kv timed out"})
            else:
                reply(msg, {"type": "read_ok", "value": cur.get("value", 0) if cur["type"] == "read_ok" else 0})
        elif mode == "txn-list-append" and typ == "txn":
            for _ in range(100):
                if wrong:
                    db, old = store["kv"], None
                else:
                    cur = rpc("lin-kv", {"type": "read", "key": "root"})
                    if cur is None:
                        break
                    old = cur.get("value") if cur["type"] == "read_ok" else None
                    db = json.loads(json.dumps(old or {}))
                out = []
                for f, k, v in body["txn"]:
                    if f == "r":
                        out.append([f, k, list(db[str(k)]) if str(k) in db else None])
                    else:
                        db.setdefault(str(k), []).append(v)
                        out.append([f, k, v])
                if wrong:
                    reply(msg, {"type": "txn_ok", "txn": out})
                    return
                ans = rpc("lin-kv", {"type": "cas", "key": "root", "from": old, "to": db,
                                     "create_if_not_exists": True})
                if ans is not None and ans["type"] == "cas_ok":
                    reply(msg, {"type": "txn_ok", "txn": out})
                    return
                if ans is None or ans.get("code") != 22:
                    break
            reply(msg, {"type": "error", "code": 0, "text": "txn outcome unknown"})
        elif mode == "unique-ids" and typ == "generate":
            store["count"] += 1
            ident = store["count"] if wrong else f"{NODE['id']}-{store['boot']}-{store['count']}"
            reply(msg, {"type": "generate_ok", "id": ident})
        elif body.get("msg_id") is not None:
            reply(msg, {"type": "error", "code": 10, "text": f"{typ} not supported"})

    threading.Thread(target=gossip_loop, daemon=True).start()
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["body"].get("in_reply_to") is not None or msg["body"]["type"] in ("init", "gossip", "topology"):
            handle(msg)  # answers and cheap messages inline, in order
        else:
            threading.Thread(target=handle, args=(msg,), daemon=True).start()


if __name__ == "__main__":
    main()
