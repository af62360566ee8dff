"""The relative head pose model: a two-frame VGGT-style transformer (aggregator + camera head).

Frame 0 of a sequence is the anchor (the reference camera), later frames are queries; the camera
head predicts for every frame the 9-number pose encoding of `relhead.frames.pose_to_encoding`
(translation, quaternion xyzw, fov_h, fov_w). The `vggt-1b` preset has exactly the state-dict keys
and shapes of the public VGGT-1B aggregator and camera head, so its checkpoint loads into it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POSE_DIM = 9


@dataclass(frozen=True)
class ModelConfig:
    img_size: int = 518  # training image side; for "dinov2" also the position-embedding grid
    patch_size: int = 14
    embed_dim: int = 1024
    depth: int = 24  # frame/global block pairs
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    patch_embed: str = "dinov2"  # "dinov2" (DINOv2 ViT-L/14 with registers), "conv" (one strided conv) or
    # "cnn" (a small residual CNN of stride patch_size, a power of 2: its feature map's cells are the tokens)
    cnn_width: int = 32  # "cnn" stem and the "cnn" baseline: channels after the first conv, doubled per stage
    arch: str = "vggt"  # "vggt": the aggregator + camera head; "cnn": the plain-CNN baseline (ConvNet below)
    dino_depth: int = 24
    dino_heads: int = 16
    qk_norm: bool = True
    init_values: float = 0.01  # layer-scale init of the aggregator and camera head blocks
    rope_freq: float = 100.0  # 2D rotary embedding base frequency; <= 0 disables it
    head_depth: int = 4  # camera-head trunk blocks (at width 2 * embed_dim)
    head_heads: int = 16
    head_iters: int = 4  # refinement iterations of the camera head
    landmarks: int = 0  # an auxiliary head locating this many 2D landmarks per frame (68: iBUG) from its tokens


PRESETS = {
    # From scratch on a CPU: a residual CNN turns each 96 px frame into 6 x 6 tokens (the inductive
    # bias a transformer trained on a few thousand images lacks), then VGGT's frame/global attention,
    # camera token and iterative camera head. 96 px, not 112: 1.65x the pairs per second at the same
    # held-out error per step (bench/README.md, "Choosing small-cpu").
    "small": ModelConfig(
        img_size=96, patch_size=16, embed_dim=128, depth=4, num_heads=4, patch_embed="cnn",
        head_depth=2, head_heads=4, landmarks=68,
    ),
    # The plain-CNN baseline: the same CNN, global average pooling and an MLP per frame (relative:
    # on the anchor's and the query's features together), 6D rotations.
    "cnn": ModelConfig(img_size=96, patch_size=16, arch="cnn", embed_dim=256),
    "vggt-1b": ModelConfig(),
}


def model_config(name: str, **overrides) -> ModelConfig:
    """A named preset (`small`, `vggt-1b`), optionally with some fields replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown model config {name!r}; choose from {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


# --- Building blocks ----------------------------------------------------------------------------


def rope_tables(pos: Tensor, head_dim: int, freq: float) -> tuple[Tensor, Tensor]:
    """cos and sin tables (N, head_dim) of 2D rotary embedding for integer (row, col) positions
    (N, 2): the first half of each head's channels turns with the row, the second with the column.

    The angles are always float32. Upstream VGGT casts them to the tokens' dtype before cos/sin; on
    CUDA (where VGGT was trained and is finetuned) its tokens reach RoPE straight out of the q/k
    LayerNorm, which autocast runs in float32, so it computes float32 angles too and this is the same
    function. Only under CPU bf16 autocast, where LayerNorm stays bf16, would upstream quantise angles
    of up to ~37 rad to bf16 (steps of 0.25 rad): a position error we do not copy."""
    d = head_dim // 2
    inv_freq = freq ** (-torch.arange(0, d, 2, dtype=torch.float32, device=pos.device) / d)
    angles = pos.float()[..., None] * inv_freq  # (N, 2, d/2)
    angles = torch.cat([angles, angles], dim=-1).flatten(-2)  # (N, head_dim)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate (..., N, head_dim) features; in each axis' half, channel i pairs with i + head_dim/4."""
    a = x.unflatten(-1, (2, 2, -1))  # (..., axis, pair half, head_dim/4)
    rotated = torch.stack([-a[..., 1, :], a[..., 0, :]], dim=-2).flatten(-3)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.LayerNorm(dim // num_heads) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(dim // num_heads) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_value: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with layer scale (DINOv2/VGGT layout and key names)."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qk_norm=False, init_values=None, eps=1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qk_norm)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        return x + self.ls2(self.mlp(self.norm2(x)))


def run_block(block: Block, x: Tensor, rope=None, grad_checkpointing: bool = False) -> Tensor:
    if grad_checkpointing and torch.is_grad_enabled():
        return checkpoint(block, x, rope, use_reentrant=False)
    return block(x, rope)


class PatchEmbed(nn.Module):
    """Non-overlapping patches by one strided conv."""

    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ResBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and a (1x1, strided) shortcut: the basic block of a ResNet."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = (nn.Identity() if stride == 1 and cin == cout else
                      nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class ConvNet(nn.Module):
    """A small residual CNN of total stride `stride` (a power of 2, >= 4): a stride-2 stem of two
    3x3 convs at `width` channels, then one stride-2 ResBlock per remaining factor of 2, doubling the
    channels. (n, 3, H, W) -> (n, channels, H / stride, W / stride)."""

    def __init__(self, stride: int, width: int):
        super().__init__()
        stages = int(math.log2(stride)) - 1
        if stride < 4 or 2 ** (stages + 1) != stride:
            raise ValueError(f"a CNN's stride (patch_size) must be a power of 2, at least 4, not {stride}")
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(*[ResBlock(width * 2**i, width * 2 ** (i + 1), 2) for i in range(stages)])
        self.channels = width * 2**stages

    def forward(self, x: Tensor) -> Tensor:
        # Channels last (NHWC): oneDNN's CPU convolutions and their gradients make small-cpu's step 1.2x as fast
        # as in NCHW (1.08x in the whole training loop; bench/README.md, "The training step"); the same function.
        return self.stages(self.stem(x.contiguous(memory_format=torch.channels_last)))


class CNNPatchEmbed(nn.Module):
    """Tokens from a ConvNet: each cell of its feature map, projected to the embedding width."""

    def __init__(self, patch_size: int, dim: int, width: int):
        super().__init__()
        self.cnn = ConvNet(patch_size, width)
        self.proj = nn.Linear(self.cnn.channels, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.cnn(x).flatten(2).transpose(1, 2))


class DinoViT(nn.Module):
    """DINOv2-style ViT with a cls token and registers (VGGT-1B's patch embed); returns the
    final-normed patch tokens (n, h*w, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, p = cfg.embed_dim, cfg.patch_size
        self.patch_size = p
        self.patch_embed = PatchEmbed(p, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (cfg.img_size // p) ** 2, D))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, D))
        # Unused here (DINOv2's masked-image training); kept frozen, as VGGT does, for key parity.
        self.mask_token = nn.Parameter(torch.zeros(1, D), requires_grad=False)
        self.blocks = nn.ModuleList(
            Block(D, cfg.dino_heads, cfg.mlp_ratio, init_values=1.0, eps=1e-6) for _ in range(cfg.dino_depth)
        )
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.grad_checkpointing = False

    def pos_embed_for(self, h: int, w: int) -> Tensor:
        """Position embedding for an h x w patch grid: bicubic (antialiased) resampling of the
        pretrained square grid, as DINOv2 does with interpolate_offset 0."""
        pe = self.pos_embed
        m = math.isqrt(pe.shape[1] - 1)
        if (h, w) == (m, m):
            return pe
        grid = pe[:, 1:].float().reshape(1, m, m, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True)
        return torch.cat([pe[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1).to(pe.dtype)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        n, _, H, W = x.shape
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(n, -1, -1), x], dim=1)
        x = x + self.pos_embed_for(H // self.patch_size, W // self.patch_size)
        x = torch.cat([x[:, :1], self.register_tokens.expand(n, -1, -1), x[:, 1:]], dim=1)
        for blk in self.blocks:
            x = run_block(blk, x, grad_checkpointing=self.grad_checkpointing)
        return self.norm(x)[:, 1 + self.register_tokens.shape[1] :]


# --- Aggregator and camera head -----------------------------------------------------------------


class Aggregator(nn.Module):
    """Patch tokens plus per-frame camera and register tokens, through alternating frame-wise and
    global attention; returns the last layer's [frame, global] outputs (B, S, P, 2D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, R = cfg.embed_dim, cfg.num_register_tokens
        if cfg.patch_embed == "conv":
            self.patch_embed = PatchEmbed(cfg.patch_size, D)
        elif cfg.patch_embed == "dinov2":
            self.patch_embed = DinoViT(cfg)
        elif cfg.patch_embed == "cnn":
            self.patch_embed = CNNPatchEmbed(cfg.patch_size, D, cfg.cnn_width)
        else:
            raise ValueError(f"patch_embed must be 'conv', 'cnn' or 'dinov2', not {cfg.patch_embed!r}")

        def blocks():
            return nn.ModuleList(
                Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qk_norm, cfg.init_values) for _ in range(cfg.depth)
            )

        self.frame_blocks, self.global_blocks = blocks(), blocks()
        # Slot 0 serves the first frame (the anchor), slot 1 every other frame.
        self.camera_token = nn.Parameter(torch.randn(1, 2, 1, D) * 1e-6)
        self.register_token = nn.Parameter(torch.randn(1, 2, R, D) * 1e-6)
        self.patch_size, self.head_dim, self.rope_freq = cfg.patch_size, D // cfg.num_heads, cfg.rope_freq
        self.grad_checkpointing = False
        self.reset_image_norm()

    def reset_image_norm(self) -> None:
        """(Re)create the ImageNet mean/std buffers: not state-dict keys, so a model built on the
        meta device and loaded with assign=True needs them made again."""
        for name, value in (("image_mean", IMAGENET_MEAN), ("image_std", IMAGENET_STD)):
            value = torch.tensor(value, device=self.camera_token.device).view(1, 1, 3, 1, 1)
            self.register_buffer(name, value, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        B, S, _, H, W = images.shape
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(f"image size {W}x{H} is not a multiple of the patch size {self.patch_size}")
        h, w = H // self.patch_size, W // self.patch_size
        x = ((images - self.image_mean) / self.image_std).flatten(0, 1)
        patches = self.patch_embed(x)  # (B*S, h*w, D)
        special = torch.cat([self.camera_token, self.register_token], dim=2)[:, [0] + [1] * (S - 1)]
        special = special.expand(B, -1, -1, -1).flatten(0, 1).to(patches.dtype)
        x = torch.cat([special, patches], dim=1)
        P, D = x.shape[1:]

        rope_frame = rope_global = None
        if self.rope_freq > 0:
            # Special tokens sit at position (0, 0), i.e. no rotation; patches at (row+1, col+1).
            grid = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1).view(-1, 2) + 1
            pos = torch.cat([torch.zeros(P - h * w, 2, dtype=grid.dtype), grid]).to(images.device)
            cos, sin = rope_tables(pos, self.head_dim, self.rope_freq)
            rope_frame, rope_global = (cos, sin), (cos.repeat(S, 1), sin.repeat(S, 1))

        ckpt = self.grad_checkpointing
        for frame_blk, global_blk in zip(self.frame_blocks, self.global_blocks):
            x = run_block(frame_blk, x.view(B * S, P, D), rope_frame, ckpt)  # within each frame
            frame_out = x
            x = run_block(global_blk, x.view(B, S * P, D), rope_global, ckpt)  # across the frames
        return torch.cat([frame_out.view(B, S, P, D), x.view(B, S, P, D)], dim=-1)


def activate_pose(enc: Tensor) -> Tensor:
    """VGGT's output activations: translation and quaternion linear, field of view ReLU."""
    return torch.cat([enc[..., :7], F.relu(enc[..., 7:])], dim=-1)


class CameraHead(nn.Module):
    """Iterative refinement of per-frame pose encodings from the camera tokens (B, S, 2D): each
    iteration modulates the tokens (adaLN) by the previous, detached estimate, runs a transformer
    trunk across the frames and adds a predicted delta."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C = 2 * cfg.embed_dim
        self.token_norm = nn.LayerNorm(C)
        self.trunk = nn.Sequential(
            *[Block(C, cfg.head_heads, cfg.mlp_ratio, init_values=cfg.init_values) for _ in range(cfg.head_depth)]
        )
        self.trunk_norm = nn.LayerNorm(C)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, POSE_DIM))
        self.embed_pose = nn.Linear(POSE_DIM, C)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(C, 3 * C))
        self.adaln_norm = nn.LayerNorm(C, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(C, C // 2, POSE_DIM)
        self.iters = cfg.head_iters

    def forward(self, camera_tokens: Tensor, iters: int | None = None) -> list[Tensor]:
        x = self.token_norm(camera_tokens)
        B, S, _ = x.shape
        enc, out = None, []
        for _ in range(iters or self.iters):
            prev = self.empty_pose_tokens.expand(B, S, -1) if enc is None else enc.detach()
            shift, scale, gate = self.poseLN_modulation(self.embed_pose(prev)).chunk(3, dim=-1)
            y = x + gate * (self.adaln_norm(x) * (1 + scale) + shift)
            delta = self.pose_branch(self.trunk_norm(self.trunk(y)))
            enc = delta if enc is None else enc + delta
            out.append(activate_pose(enc))
        return out


class LandmarkHead(nn.Module):
    """Where each of L landmarks lies in a frame, from its patch tokens (B, S, h*w, C): every token
    scores every landmark and proposes an offset from its cell's centre; a landmark's position is the
    softmax-weighted mean of its proposals (soft-argmax), in shares of the image side (x right, y down).
    An auxiliary task, like VGGT's track head: it shapes the tokens around the face's geometry."""

    def __init__(self, dim: int, landmarks: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, 3 * landmarks)
        self.landmarks = landmarks

    def forward(self, tokens: Tensor, h: int, w: int) -> Tensor:
        B, S, N, _ = tokens.shape
        out = self.proj(self.norm(tokens)).view(B, S, N, self.landmarks, 3)
        rows, cols = torch.meshgrid(torch.arange(h, device=tokens.device), torch.arange(w, device=tokens.device),
                                    indexing="ij")
        centres = torch.stack([(cols.flatten() + 0.5) / w, (rows.flatten() + 0.5) / h], -1).to(out.dtype)
        cell = torch.tensor([1.0 / w, 1.0 / h], device=tokens.device, dtype=out.dtype)
        proposals = centres[:, None] + out[..., 1:] * cell  # (B, S, N, L, 2)
        weights = out[..., 0].softmax(dim=2)[..., None]
        return (weights * proposals).sum(dim=2)  # (B, S, L, 2)


class RelPoseModel(nn.Module):
    """images (B, S, 3, H, W) in [0, 1], frame 0 the anchor -> list of (B, S, 9) pose encodings,
    one per camera-head iteration (the last is final). S = 1 is the absolute twin. With `with_aux`
    also a dict of auxiliary outputs: `landmarks` (B, S, L, 2) when the config has a landmark head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.aggregator = Aggregator(cfg)
        self.camera_head = CameraHead(cfg)
        self.landmark_head = LandmarkHead(2 * cfg.embed_dim, cfg.landmarks) if cfg.landmarks else None
        self.apply(_init_linear)

    def forward(self, images: Tensor, iters: int | None = None, with_aux: bool = False):
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"expected images (B, S, 3, H, W), got {tuple(images.shape)}")
        tokens = self.aggregator(images)
        camera_tokens = tokens[:, :, 0]
        # The heads run outside autocast, in their own parameters' dtype (VGGT runs its heads in fp32).
        with torch.autocast(images.device.type, enabled=False):
            preds = self.camera_head(camera_tokens.to(self.camera_head.embed_pose.weight.dtype), iters)
            if not with_aux:
                return preds
            aux = {}
            if self.landmark_head is not None:
                h, w = images.shape[-2] // self.cfg.patch_size, images.shape[-1] // self.cfg.patch_size
                patches = tokens[:, :, -h * w:].to(self.landmark_head.proj.weight.dtype)
                aux["landmarks"] = self.landmark_head(patches, h, w)
            return preds, aux

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        self.aggregator.grad_checkpointing = enabled
        if isinstance(self.aggregator.patch_embed, DinoViT):
            self.aggregator.patch_embed.grad_checkpointing = enabled


class ConvPoseModel(nn.Module):
    """The plain-CNN baseline (`arch: cnn`), with RelPoseModel's inputs and outputs: a ConvNet and
    global average pooling give each frame a feature vector f; an MLP on [f_anchor, f_frame] predicts
    the translation and a 6D rotation (two columns, Gram-Schmidt; Zhou et al. 2019) of every frame
    after the anchor, relative to it, and another on f each frame's field of view. The anchor's own
    pose is the identity. With one frame (the absolute twin) the pair is [f, f]. Submodules are named
    `aggregator` and `camera_head` like RelPoseModel's, so checkpoints load the same way."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.aggregator = ConvNet(cfg.patch_size, cfg.cnn_width)
        C, hidden = self.aggregator.channels, cfg.embed_dim
        mlp = lambda cin, cout: nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                              nn.Linear(hidden, cout))  # noqa: E731
        self.camera_head = nn.ModuleDict({"pose": mlp(2 * C, 9), "fov": mlp(C, 2)})
        self.apply(_init_linear)
        with torch.no_grad():  # start at the identity rotation
            self.camera_head["pose"][-1].bias[3:] = torch.tensor([1.0, 0, 0, 0, 1, 0])
        self.register_buffer("image_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor, iters: int | None = None, with_aux: bool = False):
        import roma

        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"expected images (B, S, 3, H, W), got {tuple(images.shape)}")
        B, S = images.shape[:2]
        x = (images.flatten(0, 1) - self.image_mean) / self.image_std
        f = self.aggregator(x).mean(dim=(2, 3)).view(B, S, -1)
        with torch.autocast(images.device.type, enabled=False):
            f = f.float()
            pose = self.camera_head["pose"](torch.cat([f[:, :1].expand_as(f), f], dim=-1))  # (B, S, 9)
            R = roma.special_gramschmidt(pose[..., 3:].unflatten(-1, (2, 3)).transpose(-1, -2))
            q = roma.rotmat_to_unitquat(R)  # x, y, z, w
            q = torch.where(q[..., 3:] < 0, -q, q)
            t = pose[..., :3]
            if S > 1:  # the anchor is the reference: identity, no translation
                identity = torch.tensor([0.0, 0, 0, 1], device=q.device)
                q = torch.cat([identity.expand(B, 1, 4), q[:, 1:]], dim=1)
                t = torch.cat([torch.zeros_like(t[:, :1]), t[:, 1:]], dim=1)
            fov = F.relu(self.camera_head["fov"](f))
            preds = [torch.cat([t, q, fov], dim=-1)]
            return (preds, {}) if with_aux else preds

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        pass  # small enough without


def make_net(cfg: ModelConfig) -> nn.Module:
    """The network of a ModelConfig: RelPoseModel, or the plain-CNN baseline for `arch: cnn`."""
    if cfg.arch == "vggt":
        return RelPoseModel(cfg)
    if cfg.arch == "cnn":
        return ConvPoseModel(cfg)
    raise ValueError(f"arch must be 'vggt' or 'cnn', not {cfg.arch!r}")


def _init_linear(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, DinoViT):
        nn.init.trunc_normal_(m.pos_embed, std=0.02)
        nn.init.normal_(m.cls_token, std=1e-6)
        nn.init.normal_(m.register_tokens, std=1e-6)


# --- Checkpoints --------------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a local `.safetensors` or `.pt`/`.pth` file (a bare state dict, or one under
    "model" or "state_dict"); a DDP "module." prefix is dropped."""
    path = Path(path)
    if path.suffix not in (".safetensors", ".pt", ".pth"):
        raise ValueError(f"{path}: expected a .safetensors, .pt or .pth checkpoint")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(path)
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
            for key in ("model", "state_dict"):
                if isinstance(sd, dict) and isinstance(sd.get(key), dict):
                    sd = sd[key]
                    break
    except Exception as exc:  # safetensors', pickle's and zipfile's errors: a file that is not a checkpoint
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"cannot read {path.name} as a {path.suffix} checkpoint ({type(exc).__name__}"
                         f"{': ' + detail if detail else ''})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path.name} holds no state dict of tensors")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def load_checkpoint(model: RelPoseModel, path: str | Path) -> list[str]:
    """Load the `aggregator.*`, `camera_head.*` (and `landmark_head.*`) tensors of a checkpoint
    strictly into `model` and return the names of the other tensors (e.g. VGGT's depth, point and
    track heads), which are ignored. A model built on the meta device receives the checkpoint's
    tensors themselves."""
    sd = read_state_dict(path)
    ours = {k: v for k, v in sd.items() if k.split(".", 1)[0] in ("aggregator", "camera_head", "landmark_head")}
    ignored = sorted(k for k in sd if k not in ours)
    own = model.state_dict()
    problems = []
    for label, names in (
        ("missing", [k for k in own if k not in ours]),
        ("unexpected", [k for k in ours if k not in own]),
        ("shape mismatch", [f"{k} {tuple(ours[k].shape)} vs {tuple(own[k].shape)}"
                            for k in ours if k in own and ours[k].shape != own[k].shape]),
    ):
        if names:
            more = f", ... ({len(names)} in all)" if len(names) > 3 else ""
            problems.append(f"{label}: {', '.join(names[:3])}{more}")
    if problems:
        raise ValueError(f"checkpoint {Path(path).name} does not fit the model: " + "; ".join(problems))
    on_meta = any(p.is_meta for p in model.parameters())
    model.load_state_dict(ours, strict=True, assign=on_meta)
    if on_meta:
        model.aggregator.reset_image_norm()
    return ignored
