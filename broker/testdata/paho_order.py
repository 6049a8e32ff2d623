# Routing order with paho-mqtt: run by TestPahoRoutingOrder (broker/routing_order_test.go).
# python3 paho_order.py PORT ROUNDS 311|5 GAP_SECONDS; prints "MISSES case=n ..." last.
import sys, threading, time, paho.mqtt.client as mqtt

port, rounds, proto, gap = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
V5 = proto == "5"

class C:
    """A paho client on its own network thread, recording what it receives."""
    def __init__(self, cid, clean=True, threaded=True):
        self.threaded = threaded
        self.msgs, self.cond, self.acks = [], threading.Condition(), set()
        if V5:
            self.c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
        else:
            self.c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv311, clean_session=clean)
        self.c.on_message = self.on_message
        self.c.on_subscribe = lambda cl, u, mid, *a: self.ack(mid)
        self.c.on_unsubscribe = lambda cl, u, mid, *a: self.ack(mid)
        self.connected = threading.Event()
        self.c.on_connect = lambda *a: self.connected.set()
        if V5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            p = Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = 0 if clean else 3600
            self.c.connect("127.0.0.1", port, keepalive=30, clean_start=clean, properties=p)
        else:
            self.c.connect("127.0.0.1", port, keepalive=30)
        if threaded:
            self.c.loop_start()
        if not self.wait_event(self.connected, 5):
            raise SystemExit("no CONNACK for " + cid)
    def wait_event(self, ev, timeout):
        # A client without a network thread writes each packet in the call that sends it (so
        # its SUBSCRIBE is on the wire before the next line runs) and reads here.
        end = time.time() + timeout
        while not ev.is_set() and time.time() < end:
            if self.threaded:
                ev.wait(0.01)
            else:
                self.c.loop(0.005)
        return ev.is_set()
    def on_message(self, cl, u, m):
        with self.cond:
            self.msgs.append((m.topic, m.payload.decode()))
            self.cond.notify_all()
    def ack(self, mid):
        with self.cond:
            self.acks.add(mid)
            self.cond.notify_all()
    def wait(self, pred, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            with self.cond:
                if pred(self):
                    return True
                if self.threaded:
                    self.cond.wait(0.01)
                    continue
            self.c.loop(0.005)
        with self.cond:
            return pred(self)
    def close(self):
        self.c.disconnect()
        if self.threaded:
            self.c.loop_stop()

def cleanup(*ids):
    for cid in ids:
        C(cid, True).close()

def unsubscribe_case(persistent, n=None):
    """B unsubscribes TopicA and, without waiting for UNSUBACK, A connects and publishes."""
    misses = 0
    for r in range(n or rounds):
        cleanup("order-a", "order-b")
        b = C("order-b", not persistent, threaded=False)
        _, mid = b.c.subscribe([("TopicA", 2), ("TopicA/B", 2), ("Topic/C", 2)])
        b.wait(lambda s: mid in s.acks)
        b.c.unsubscribe("TopicA")  # written before the next line runs: b has no network thread
        time.sleep(gap)  # so that the broker has read it, whatever the machine's load
        a = C("order-a")
        for t in ("TopicA", "TopicA/B", "Topic/C"):
            a.c.publish(t, "r%d" % r, qos=1)
        a.c.publish("Topic/C", "end%d" % r, qos=1)  # after TopicA's, from the same publisher
        if not b.wait(lambda s: ("Topic/C", "end%d" % r) in s.msgs):
            misses += 1
            print("round", r, "end marker never came:", b.msgs, flush=True)
        elif ("TopicA", "r%d" % r) in b.msgs or ("TopicA/B", "r%d" % r) not in b.msgs:
            misses += 1
            print("round", r, "got", b.msgs, flush=True)
        a.close()
        b.close()
        if persistent:
            cleanup("order-b")
    return misses

def subscribe_case():
    """B subscribes and A publishes right after, waiting for nothing."""
    misses = 0
    a = C("order-pub")
    for r in range(rounds):
        cleanup("order-b")
        b = C("order-b", threaded=False)
        topic = "order/sub/%d" % r
        b.c.subscribe(topic, 1)  # written before the next line runs
        time.sleep(gap)  # so that the broker has read it, whatever the machine's load
        a.c.publish(topic, "r%d" % r, qos=1)
        if not b.wait(lambda s: (topic, "r%d" % r) in s.msgs, 3):
            misses += 1
            print("round", r, "missed the publish after SUBSCRIBE", flush=True)
        b.close()
    a.close()
    return misses

def retained_case():
    """A publishes a retained message and B subscribes at once: B gets it."""
    misses = 0
    a = C("order-pub")
    for r in range(rounds):
        b = C("order-b", threaded=False)
        topic = "order/ret/%d" % r
        a.c.publish(topic, "r%d" % r, qos=1, retain=True)
        time.sleep(gap)
        b.c.subscribe(topic, 1)
        if not b.wait(lambda s: (topic, "r%d" % r) in s.msgs, 3):
            misses += 1
            print("round", r, "missed the retained message", flush=True)
        b.close()
        a.c.publish(topic, "", qos=1, retain=True)
    a.close()
    return misses

t0 = time.time()
res = {"unsubscribe": unsubscribe_case(False), "unsubscribe-persistent": unsubscribe_case(True, max(1, rounds // 2)),
       "subscribe": subscribe_case(), "retained": retained_case()}
print("MISSES", " ".join("%s=%d" % kv for kv in res.items()), "in %.1fs" % (time.time() - t0), flush=True)
