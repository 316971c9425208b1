"""An idle-connection flood, run as its own process by the connection-exhaustion tests (so its
loop never competes with the measuring client for the test's GIL).

    python3 flood.py PORT COUNT [--refresh RATE]

Opens COUNT TCP connections to 127.0.0.1:PORT as fast as it can and never sends a byte; prints
"open COUNT" once all are open.  Then it holds them, or with --refresh keeps replacing the oldest
by a new one, RATE times a second (closed with a reset, as an attacker would, so no TIME_WAIT
piles up).  On SIGTERM it prints "reconnects N" and exits.

It runs niced, and the refresh is paced: a real attacker spends its own machines' CPU, not the
server's.  On a small shared test machine an unpaced flood on the same cores can starve frontd
long enough to fill the kernel's accept queue (4096), and a SYN dropped there costs the normal
client a 1 s retransmission whatever frontd does.
"""

import collections
import os
import resource
import signal
import socket
import struct
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    return s


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    rate = float(sys.argv[sys.argv.index("--refresh") + 1]) if "--refresh" in sys.argv else 0
    raise_nofile(count + 64)
    os.nice(19)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    socks = collections.deque()
    for _ in range(count):
        socks.append(connect(port))
    print("open %d" % len(socks), flush=True)
    reconnects = 0
    due = time.monotonic()
    while not stop:
        if not rate:
            signal.pause()
            continue
        due += 1 / rate
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        socks.popleft().close()
        try:
            socks.append(connect(port))
        except OSError:
            continue  # the backlog was full for 30 s: try again
        reconnects += 1
    print("reconnects %d" % reconnects, flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
