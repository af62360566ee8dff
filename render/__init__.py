"""Blender side: sampling of a scene (numpy), views, render settings, scene building, outputs.

Only render.scene, render.materials and render.settings import bpy; the rest is plain numpy.
"""
