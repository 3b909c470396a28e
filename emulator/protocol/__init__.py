"""Wire protocols shared by every emulated service: errors, routing, JSON and REST dispatch."""
