"""netdiag's benchmark suite (issue 7): netdiag against the tools people use today, in one run.

Not part of the test suite (pytest's testpaths is ``tests``): ``python -m benchmarks``.
"""
