"""Development kit shared by the tests, the benchmarks and the scripts; never imported by the service.

- `devkit.launcher`: `python -m service` as a child process on a free loopback port.
"""
