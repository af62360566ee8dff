"""Model and LoRA: VGGT-1B key parity (meta device), shapes, learning, checkpoints, adapters."""

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from relhead.train import lora
from relhead.train.model import RelPoseModel, load_checkpoint, model_config

# Names and shapes of the public VGGT-1B checkpoint's tensors (no weights); how it was made: its header.
REFERENCE_KEYS = Path(__file__).resolve().parent / "reference" / "vggt1b_keys.tsv"


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_dino_config():
    """The vggt-1b layout (DINOv2 patch embed with its own blocks) at toy size."""
    return model_config(
        "vggt-1b", img_size=56, embed_dim=64, depth=2, num_heads=4, dino_depth=2, dino_heads=4,
        head_depth=1, head_heads=4,
    )


def small_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return RelPoseModel(model_config("small", **overrides)).eval()


def images(B=2, S=2, H=64, W=64, seed=1):
    return torch.rand(B, S, 3, H, W, generator=torch.Generator().manual_seed(seed))


def test_vggt1b_state_dict_matches_the_public_checkpoint_keys():
    ref = {}
    for line in REFERENCE_KEYS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, shape = line.split("\t")
            ref[name] = tuple(json.loads(shape))
    with torch.device("meta"):
        model = RelPoseModel(model_config("vggt-1b"))
    sd = model.state_dict()
    assert set(sd) == set(ref)
    assert {k: tuple(v.shape) for k, v in sd.items()} == ref
    assert sum(v.numel() for v in sd.values()) == 1_125_286_930


@pytest.mark.parametrize("S", [1, 2])
def test_forward_shapes(S):
    model = small_model()
    with torch.no_grad():
        out = model(images(B=3, S=S))
    assert len(out) == model.cfg.head_iters == 4
    for enc in out:
        assert enc.shape == (3, S, 9) and torch.isfinite(enc).all() and (enc[..., 7:] >= 0).all()
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(images(H=60))


def test_queries_are_interchangeable_but_the_anchor_is_not():
    model = small_model()
    with torch.no_grad():  # trained tokens, not the near-zero init, tell the anchor's slot from the queries'
        model.aggregator.camera_token.normal_()
    x = images(S=3)
    with torch.no_grad():
        out = model(x)[-1]
        swapped = model(x[:, [0, 2, 1]])[-1]
        anchor_swapped = model(x[:, [1, 0, 2]])[-1]
    assert torch.allclose(swapped, out[:, [0, 2, 1]], atol=1e-5)
    assert not torch.allclose(anchor_swapped, out[:, [1, 0, 2]], atol=1e-3)


def test_dinov2_patch_embed_at_other_image_sizes():
    torch.manual_seed(0)
    model = RelPoseModel(tiny_dino_config()).eval()
    pe = model.aggregator.patch_embed
    assert pe.pos_embed_for(4, 4) is pe.pos_embed  # the pretrained grid is used as is
    assert pe.pos_embed_for(3, 5).shape == (1, 1 + 15, 64)
    with torch.no_grad():
        for H, W in [(56, 56), (42, 70)]:
            assert model(images(H=H, W=W))[-1].shape == (2, 2, 9)


def test_small_model_overfits_one_batch():
    model = small_model(embed_dim=32, depth=1, num_heads=2, head_depth=1, head_heads=2, cnn_width=8).train()
    x = images(B=4, S=2)
    target = torch.randn(4, 2, 9, generator=torch.Generator().manual_seed(2))
    target[..., 7:] = target[..., 7:].abs()  # fields of view are non-negative
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(150):
        out = model(x)
        err = (out[-1] - target).abs().mean().item()
        first = first or err
        if err < 0.1 * first:
            break
        loss = sum((enc - target).abs().mean() for enc in out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert err < 0.1 * first, (first, err)


def test_load_checkpoint_is_strict_on_model_keys_and_ignores_others(tmp_path):
    src, x = small_model(seed=0), images()
    with torch.no_grad():
        expected = src(x)[-1]
    sd = src.state_dict()
    extra = {"depth_head.proj.weight": torch.zeros(2, 2), "track_head.x": torch.zeros(1)}
    torch.save({"model": {**sd, **extra}}, tmp_path / "ckpt.pt")
    save_file({k: v.contiguous() for k, v in {**sd, **extra}.items()}, tmp_path / "ckpt.safetensors")

    for name in ("ckpt.pt", "ckpt.safetensors"):
        dst = small_model(seed=1)
        assert load_checkpoint(dst, tmp_path / name) == sorted(extra)
        with torch.no_grad():
            assert torch.equal(dst(x)[-1], expected)

    with torch.device("meta"):  # built without memory, then given the checkpoint's tensors
        lazy = RelPoseModel(model_config("small"))
    load_checkpoint(lazy, tmp_path / "ckpt.pt")
    with torch.no_grad():
        assert torch.equal(lazy.eval()(x)[-1], expected)

    missing = {k: v for k, v in sd.items() if k != "camera_head.embed_pose.bias"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing: camera_head\.embed_pose\.bias") as err:
        load_checkpoint(small_model(), tmp_path / "missing.pth")
    assert "\n" not in str(err.value)

    torch.save({"state_dict": {**sd, "aggregator.camera_token": torch.zeros(1, 2, 1, 7)}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"shape mismatch: aggregator\.camera_token \(1, 2, 1, 7\)"):
        load_checkpoint(small_model(), tmp_path / "bad.pt")


def lora_numel(model, settings):
    pattern = lora.target_pattern(settings)
    return sum(
        settings.rank * (m.in_features + m.out_features)
        for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and re.fullmatch(pattern, n)
    )


def test_lora_targets_only_the_aggregator_blocks_and_counts_trainables():
    torch.manual_seed(0)
    model = RelPoseModel(tiny_dino_config())
    settings = lora.LoraSettings()
    expected = lora_numel(model, settings) + sum(p.numel() for p in model.camera_head.parameters())
    wrapped = lora.prepare_finetune(model, "lora")
    adapted = [n for n, m in model.named_modules() if hasattr(m, "lora_A")]
    assert len(adapted) == 2 * 2 * 4  # frame + global blocks x depth 2 x four linears
    assert all(re.fullmatch(r"aggregator\.(frame|global)_blocks\.\d\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)", n)
               for n in adapted)
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all(".lora_" in n or n.startswith("camera_head.") for n in trainable)
    assert sum(trainable.values()) == sum(p.numel() for p in wrapped.parameters() if p.requires_grad) == expected


def test_freeze_modes():
    model = small_model()
    count = lambda: sum(p.numel() for p in model.parameters() if p.requires_grad)  # noqa: E731
    lora.prepare_finetune(model, "head")
    assert count() == sum(p.numel() for p in model.camera_head.parameters())
    lora.prepare_finetune(model, "scratch")
    assert count() == sum(p.numel() for p in model.parameters())
    dino = RelPoseModel(tiny_dino_config())
    lora.prepare_finetune(dino, "full")
    frozen = [n for n, p in dino.named_parameters() if not p.requires_grad]
    assert frozen == ["aggregator.patch_embed.mask_token"]
    with pytest.raises(ValueError, match="finetune mode"):
        lora.prepare_finetune(model, "partial")


def test_lora_merge_export_and_adapter_round_trip(tmp_path):
    model = small_model()
    base_sd = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped = lora.prepare_finetune(model, "lora", lora.LoraSettings(rank=4, alpha=8))
    torch.manual_seed(3)
    with torch.no_grad():  # a non-trivial adapter and a changed head
        for n, p in wrapped.named_parameters():
            if "lora_B" in n or n.endswith("camera_head.embed_pose.bias"):
                p.normal_(std=0.05)
    x = images()
    with torch.no_grad():
        unmerged = wrapped(x)[-1]
        base_out = RelPoseModel(model.cfg).eval()
        base_out.load_state_dict(base_sd)
        assert not torch.allclose(base_out(x)[-1], unmerged, atol=1e-4)

    lora.save_adapter(wrapped, tmp_path / "adapter.safetensors")
    fresh = RelPoseModel(model.cfg).eval()
    fresh.load_state_dict(base_sd)
    reloaded = lora.load_adapter(fresh, tmp_path / "adapter.safetensors")
    with torch.no_grad():
        assert torch.equal(reloaded(x)[-1], unmerged)

    merged = lora.export_model(wrapped, tmp_path / "merged.safetensors")
    assert type(merged) is RelPoseModel and list(merged.state_dict()) == list(base_sd)
    plain = small_model(seed=5)
    assert load_checkpoint(plain, tmp_path / "merged.safetensors") == []
    with torch.no_grad():
        assert torch.allclose(merged(x)[-1], unmerged, atol=1e-5)
        assert torch.allclose(plain(x)[-1], unmerged, atol=1e-5)


@pytest.mark.parametrize("S", [1, 2])
def test_the_cnn_baseline_predicts_rotations_and_learns(S):
    from relhead.train.losses import LossCfg, pose_loss
    from relhead.train.model import ConvPoseModel, make_net
    from scipy.spatial.transform import Rotation

    torch.manual_seed(0)
    model = make_net(model_config("cnn", cnn_width=8, embed_dim=32))
    assert type(model) is ConvPoseModel
    x = images(B=4, S=S)
    with torch.no_grad():
        (enc,) = model.eval()(x)
    assert enc.shape == (4, S, 9) and (enc[..., 7:] >= 0).all()
    q = enc[..., 3:7]
    assert torch.allclose(q.norm(dim=-1), torch.ones(4, S), atol=1e-5) and (q[..., 3] >= 0).all()
    if S == 2:  # the anchor is the reference frame
        assert torch.equal(enc[:, 0, :3], torch.zeros(4, 3)) and torch.equal(enc[:, 0, 3:7], torch.tensor([0.0, 0, 0, 1]).expand(4, 4))
    target = torch.zeros(4, S, 9)
    target[..., 3:7] = torch.tensor(Rotation.random(4 * S, random_state=0).as_quat(), dtype=torch.float32).view(4, S, 4)
    target[..., 3:7] *= torch.where(target[..., 6:7] < 0, -1.0, 1.0)
    target[:, 0, 3:7] = torch.tensor([0.0, 0, 0, 1]) if S == 2 else target[:, 0, 3:7]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    cfg = LossCfg(rot="geodesic", t=0.0, fov=0.0)
    first = pose_loss(model(x), target, cfg)[0].item()
    for _ in range(100):
        loss = pose_loss(model(x), target, cfg)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.25 * first, (first, loss.item())


def test_the_landmark_head_is_a_soft_argmax_over_the_token_grid():
    from relhead.train.model import LandmarkHead

    head = LandmarkHead(8, 3)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.zero_()
    # equal scores and no offsets: every landmark at the mean of the cell centres, the image's centre
    assert torch.allclose(head(torch.randn(1, 1, 12, 8), 3, 4), torch.full((1, 1, 3, 2), 0.5), atol=1e-6)
    # one token (row 2, col 1 of a 3 x 4 grid) outscores the others for landmark 0 and proposes half a
    # cell to the right: landmark 0 lands there; the others stay at the centre
    tokens = torch.zeros(1, 1, 12, 8)
    tokens[0, 0, 2 * 4 + 1, :2] = torch.tensor([1.0, -1.0])
    v = head.norm(tokens)[0, 0, 9].detach()
    with torch.no_grad():
        head.proj.weight[0] = 50 * v / v.norm()  # landmark 0's score
        head.proj.weight[1] = 0.5 * v / v.norm() ** 2  # its x offset, in cells
    out = head(tokens, 3, 4)[0, 0]
    assert torch.allclose(out[0], torch.tensor([(1 + 0.5 + 0.5) / 4, (2 + 0.5) / 3]), atol=1e-4)
    assert torch.allclose(out[1:], torch.full((2, 2), 0.5), atol=1e-6)
