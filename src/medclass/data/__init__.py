"""Data input: readers, layout discovery, preprocessing, the array cache, scans, duplicates and splits.

Import the submodules directly (``from medclass.data.readers import read_image``);
this package imports nothing.
"""
