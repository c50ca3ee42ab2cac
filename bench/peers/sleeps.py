# The seed's first example scaled up: asyncio.gather() of N one-second
# sleeps in one Python process. Prints seconds=... for bench/run.
import asyncio
import sys
import time


async def greet(seconds):
    await asyncio.sleep(seconds)


async def main(n, seconds):
    await asyncio.gather(*(greet(seconds) for _ in range(n)))


n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
t0 = time.monotonic()
asyncio.run(main(n, seconds))
print(f"jobs={n} seconds={time.monotonic() - t0:.4f}")
