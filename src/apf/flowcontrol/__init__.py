"""The APF engine: classification, concurrency allocation and fair queuing, no HTTP."""
