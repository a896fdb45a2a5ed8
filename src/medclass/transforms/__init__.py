"""Array and tensor transforms: geometry (foreground crop, resize) and the train/eval presets.

Import the submodules directly (``from medclass.transforms.geometry import resize_array``).
"""
