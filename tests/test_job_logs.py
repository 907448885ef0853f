"""Following a log: one look at the file per log, however many follow it, and every
follower wakes when it grows."""

from __future__ import annotations

import asyncio

from bodo_jupyter.platform.jobs.logs import JobLogs


def test_many_followers_share_one_watch_and_all_wake(tmp_path):
    async def main() -> None:
        logs = JobLogs(root=tmp_path, watch_interval=0.01)
        path = logs.path("o-1", "j-1", "r-1")
        logs.create(path)
        followers = [asyncio.create_task(logs.grown(path, 0, 30)) for _ in range(50)]
        await asyncio.sleep(0)  # each follower runs up to its wait
        assert len(logs._watches) == 1  # one watch for fifty followers
        watch = logs._watches[path]
        assert watch.waiters == 50
        logs.append(path, "hello")
        assert await asyncio.gather(*followers) == [True] * 50
        # Nobody waits any more: the watch ends by itself.
        await asyncio.wait_for(watch.task, 10)
        assert path not in logs._watches
        assert await logs.grown(path, logs.size(path), 0.05) is False  # a timeout, no news

    asyncio.run(main())
