"""Head-model backends behind one interface and their registry, HDRIs, landmark maps (no bpy)."""
