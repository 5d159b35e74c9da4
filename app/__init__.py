"""Application assembly: the one place that wires the parts together (config -> services ->
registry -> queue -> workers -> server). ``main.py`` parses flags and calls in here; so do the
Ray worker actors, by module name, so that nothing imports ``main``."""
