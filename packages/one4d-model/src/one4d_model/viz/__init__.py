"""Showing a result: output folders, the scene reader, colour maps, videos, novel views, the 4D viewer."""
