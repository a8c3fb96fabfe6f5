"""The APF engine: classification, concurrency allocation and fair queuing, no HTTP."""

from apf.flowcontrol import native

# True when the engine modules below are the mypyc-compiled build of these sources.
COMPILED = native.activate(__path__)
