"""Real-time push (OBIE R-02..R-09, RFC 8935): a delivery queue with a fixed pool of worker
threads, so the work a trigger does is bounded (it only adds an entry) whatever the TPP's
endpoint does.

Each delivery is one SET for one TPP. A worker takes a due delivery, asks the bank for the SET and
the subscription's CallbackUrl *now* (so a PUT that changes the URL moves the retries to it, and a
DELETE or a PUT removing the URL stops them), and POSTs the compact SET as `application/jwt` with
an `x-fapi-interaction-id`, no bearer token. A 2xx ends the delivery; a 5xx, a timeout or no
answer is retried after the next delay of the schedule (counted from the end of the failed
attempt); a 4xx (or a redirect, never followed) is final. After the last failed attempt the SET
awaits polling (R-09).
"""

import heapq
import itertools
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A callback that redirects is not followed: the SET goes only to the registered URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class PushQueue:
    """Due deliveries in a heap, taken by `workers` threads; at most `capacity` pending."""

    def __init__(self, bank, workers=4, capacity=10000):
        self.bank = bank
        self.schedule = tuple(bank.config.retry_schedule)
        self.timeout = bank.config.push_timeout
        self.capacity = capacity
        self.heap = []  # (due, n, client_id, jti, attempt)
        self.counter = itertools.count()
        self.cond = threading.Condition()
        self.stopping = False
        # No proxies from the environment: the bank talks to the registered URL itself.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  _NoRedirect())
        self.threads = [threading.Thread(target=self._work, name=f"push-{i}", daemon=True)
                        for i in range(workers)]
        bank.push = self
        for t in self.threads:
            t.start()

    def offer(self, client_id, jti):
        """Queues the first attempt; False when the queue is full (the SET is then polled)."""
        with self.cond:
            if self.stopping or len(self.heap) >= self.capacity:
                return False
            self._add(time.monotonic(), client_id, jti, 1)
            return True

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def _add(self, due, client_id, jti, attempt):
        heapq.heappush(self.heap, (due, next(self.counter), client_id, jti, attempt))
        self.cond.notify()

    def _next(self):
        """The next due delivery, waiting for it; None when stopping."""
        with self.cond:
            while not self.stopping:
                if self.heap:
                    wait = self.heap[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self.heap)
                    self.cond.wait(wait)
                else:
                    self.cond.wait()
            return None

    def _work(self):
        while True:
            item = self._next()
            if item is None:
                return
            _, _, client_id, jti, attempt = item
            try:
                self._attempt(client_id, jti, attempt)
            except Exception as e:  # a worker never dies: the SET then awaits polling
                print(f"push of {jti} failed unexpectedly: {e!r}", file=sys.stderr,
                      flush=True)
                self.bank.push_done(client_id, jti, delivered=False)

    def _attempt(self, client_id, jti, attempt):
        target = self.bank.push_target(client_id, jti)
        if target is None:
            return
        jws, url = target
        status = self._post(url, jws)
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
            self.bank.push_done(client_id, jti, delivered=True)
        elif (status is None or status >= 500) and attempt <= len(self.schedule):
            outcome = f"retry in {self.schedule[attempt - 1]} s"
            with self.cond:
                self._add(time.monotonic() + self.schedule[attempt - 1], client_id, jti,
                          attempt + 1)
        else:
            outcome = "failed for good, left for polling"
            self.bank.push_done(client_id, jti, delivered=False)
        print(f"push {jti} attempt {attempt} to {url}: {status or 'no answer'}, {outcome}",
              file=sys.stderr, flush=True)

    def _post(self, url, jws):
        """The status of one POST of the SET, or None when there was no answer in time."""
        request = urllib.request.Request(url, data=jws.encode("ascii"), method="POST", headers={
            "Content-Type": "application/jwt",
            "Accept": "application/json",
            "x-fapi-interaction-id": str(uuid.uuid4()),
        })
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                answer.read(64 * 1024)
                return answer.status
        except urllib.error.HTTPError as e:
            e.close()
            return e.code
        except (OSError, ValueError):
            return None
