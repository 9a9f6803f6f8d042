"""The ``moodlens`` command line: thin wrappers that parse, build config and call the modules."""
