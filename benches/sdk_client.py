"""The official Python MCP SDK's own client calling `getDoc` one call after another in one
session: the latency a client built on the SDK sees, its own cost included (client-bound,
so it shows how much of a call is the server's once a real client library is in the way).

Usage: sdk_client.py LABEL URL TOOL ARGS_JSON [BEARER] [CALLS]
Prints one Markdown table row: label, p50, p99, calls/s.
"""

import asyncio
import json
import sys
import time

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def measure(url: str, tool: str, args: dict, bearer: str | None, calls: int) -> list[float]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(20):  # warm-up
                await session.call_tool(tool, args)
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                result = await session.call_tool(tool, args)
                times.append(time.perf_counter() - started)
                assert not result.is_error, result
            return times


def main() -> None:
    label, url, tool, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    bearer = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    calls = int(sys.argv[6]) if len(sys.argv) > 6 else 300
    times = sorted(asyncio.run(measure(url, tool, args, bearer, calls)))
    p50 = times[len(times) // 2] * 1000
    p99 = times[min(len(times) - 1, round((len(times) - 1) * 0.99))] * 1000
    print(f"| {label} | {p50:.2f} ms | {p99:.2f} ms | {len(times) / sum(times):.0f} |")


if __name__ == "__main__":
    main()
