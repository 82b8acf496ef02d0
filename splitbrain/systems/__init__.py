"""Systems under test. Subpackages here must import only the standard library
(and each other): they are shipped as-is into containers and onto ssh hosts."""
