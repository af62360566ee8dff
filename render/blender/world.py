"""The world in Blender: the group's HDRI, rotated and scaled, lights the scene; camera rays see it
or a plain colour (a group's `background`). The map's sky is over the head, on the head model's world
up. Built once per scene; per group only values change."""

from __future__ import annotations

import bpy

from relhead.frames import world_map_euler
from relhead.render.spec import LightingSpec


class World:
    def __init__(self, scene) -> None:
        w = bpy.data.worlds.new("world")
        scene.world = w
        nt = w.node_tree
        bg = nt.nodes["Background"]
        env = nt.nodes.new("ShaderNodeTexEnvironment")
        env.name = "env"
        mapping = nt.nodes.new("ShaderNodeMapping")
        mapping.name = "mapping"
        coords = nt.nodes.new("ShaderNodeTexCoord")
        nt.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        # Camera rays see the HDRI or a plain colour (use_color = 1); everything is lit by the HDRI.
        path = nt.nodes.new("ShaderNodeLightPath")
        use_color = nt.nodes.new("ShaderNodeMath")
        use_color.name, use_color.operation = "use_color", "MULTIPLY"
        nt.links.new(path.outputs["Is Camera Ray"], use_color.inputs[0])
        mix = nt.nodes.new("ShaderNodeMix")
        mix.name, mix.data_type = "background", "RGBA"
        nt.links.new(use_color.outputs["Value"], mix.inputs["Factor"])
        nt.links.new(env.outputs["Color"], mix.inputs["A"])
        nt.links.new(mix.outputs["Result"], bg.inputs["Color"])
        self.world = w

    def set_group(self, light: LightingSpec, hdri, up) -> None:
        """The group's lighting; `hdri` its loaded HDRI image, its sky over the head model's world `up`
        (HeadModel.world_up; relhead.frames.world_map_euler)."""
        nodes = self.world.node_tree.nodes
        nodes["env"].image = hdri
        nodes["mapping"].inputs["Rotation"].default_value = world_map_euler(up, light.rotation_deg)
        nodes["Background"].inputs["Strength"].default_value = light.strength
        plain = light.background.type == "color"
        nodes["use_color"].inputs[1].default_value = 1.0 if plain else 0.0
        colour = [c / max(light.strength, 1e-6) for c in light.background.color] if plain else [0.0] * 3
        nodes["background"].inputs["B"].default_value = (*colour, 1.0)

    @property
    def env_image(self):
        """The HDRI image the world shows (for reflections that copy it)."""
        return self.world.node_tree.nodes["env"].image

    @property
    def rotation(self):
        """The HDRI's rotation (Euler radians, the mapping node's)."""
        return self.world.node_tree.nodes["mapping"].inputs["Rotation"].default_value
