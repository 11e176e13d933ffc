"""Benchmarks run by `mneme bench`. They read evaluation data from a path the user gives; the
product ships no evaluation data."""
