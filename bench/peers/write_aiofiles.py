# The seed's third example scaled up: asyncio.gather() of N aiofiles writes
# of SIZE bytes each (replacing N distinct files). Prints seconds=...
import asyncio
import os
import sys
import time

import aiofiles


async def write_to_file(path, text, do_fsync):
    async with aiofiles.open(path, "w") as f:
        await f.write(text)
        if do_fsync:
            await f.flush()
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, f.fileno())


async def main(directory, n, size, do_fsync):
    text = "x" * size
    await asyncio.gather(*(write_to_file(os.path.join(directory, f"f{i}"), text, do_fsync)
                           for i in range(n)))


directory = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
size = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
do_fsync = len(sys.argv) > 4 and sys.argv[4] == "fsync"
t0 = time.monotonic()
asyncio.run(main(directory, n, size, do_fsync))
elapsed = time.monotonic() - t0
print(f"writes={n} seconds={elapsed:.4f} writes_per_second={n / elapsed:.0f}")
