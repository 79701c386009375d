"""cpu: CPU-heavy work for the load test.

Counts the primes below event["n"] (default 20000) by trial division and
hashes event["rounds"] times (default 2000) with SHA-256: about 10-30 ms of
one core per request, reported back with the time it took.

mkctl fn create cpu -f examples/serverless/cpu.py --max-scale 6
mkctl fn invoke cpu -q n=50000
"""
import hashlib
import time


def _int(event, key, default, top):
    try:
        return max(0, min(int(event.get(key, default)), top))
    except (TypeError, ValueError):
        return default


def is_prime(k):
    if k < 2:
        return False
    if k % 2 == 0:
        return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0:
            return False
        d += 2
    return True


def handler(event, context):
    n = _int(event, "n", 20000, 2_000_000)
    rounds = _int(event, "rounds", 2000, 1_000_000)
    start = time.perf_counter()
    primes = sum(1 for k in range(n) if is_prime(k))
    digest = b"minik8s"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return {
        "n": n,
        "primes": primes,
        "sha256": digest.hex()[:16],
        "ms": round((time.perf_counter() - start) * 1000, 2),
        "revision": context.revision,
    }
