"""The Blender layer: the only folder that imports bpy, mathutils or bmesh (tests/test_contracts.py).

One scene per process (scene.py: ProcessScene) holds the camera, the world, the compositor, the head
and the scene parts (PARTS: one small class per part, each drawing its bpy-free geometry from
relhead.render.parts); materials.py and nodes.py build the head's shaders, settings.py applies the
config's render settings, and mpfb_nodes.py builds MPFB's skin node tree.
"""
