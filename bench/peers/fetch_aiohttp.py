# The seed's second example scaled up: N fetches of a JSON document with
# aiohttp, at most CONCURRENCY at a time (one session, as a careful user
# would write it). Prints seconds=... for bench/run.
import asyncio
import sys
import time

import aiohttp


async def fetch(session, sem, url):
    async with sem:
        async with session.get(url) as response:
            await response.json()


async def main(url, n, concurrency):
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(fetch(session, sem, url) for _ in range(n)))


url = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 100
t0 = time.monotonic()
asyncio.run(main(url, n, concurrency))
elapsed = time.monotonic() - t0
print(f"fetches={n} seconds={elapsed:.4f} fetches_per_second={n / elapsed:.0f}")
