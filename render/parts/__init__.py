"""The scene parts' geometry, without bpy: strand hair and facial hair, garments, hats, glasses, and
the surfaces they lie on or keep off. Each part builds a group's geometry in the head frame from its
spec and the first view's posed head (`group_*`); relhead.render.blender only draws it."""
