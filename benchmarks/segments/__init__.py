"""Weak-segment discovery benchmark: planted weak segments, null trials, speed, and Deepchecks."""
