"""Development kit shared by the tests, the benchmarks and the scripts; never imported by the service.

- `devkit.launcher`: `python -m service` as a child process on a free loopback port.
- `devkit.random_models`: model folders with random weights and tokenizers trained on the seed articles.
"""
