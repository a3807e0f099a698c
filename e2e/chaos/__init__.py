"""toolpod's chaos and load suites on kind (README.md in this folder): a workload Job drives the
service while the host injects faults; ``accounting`` turns what both saw into the report."""
