# A pack that raises at import: its dependency is missing.
import this_dependency_is_not_installed  # noqa: F401

NODE_CLASS_MAPPINGS = {}
