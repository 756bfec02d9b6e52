"""The training loader's per-image work: decoding cached JPEGs and seeded augmentation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from classify.data import ImageTransform, LabelledImages, crop_box
from tests.helpers import examples


def gradient_image(height: int, width: int) -> torch.Tensor:
    """A (3, H, W) uint8 image in which every pixel differs from its mirror image."""
    ys, xs = np.mgrid[0:height, 0:width]
    array = np.stack([xs * 255 // max(1, width - 1), ys * 255 // max(1, height - 1), (xs + ys) % 256])
    return torch.from_numpy(array.astype(np.uint8))


@settings(max_examples=examples(200), deadline=None)
@given(height=st.integers(1, 2000), width=st.integers(1, 2000), min_scale=st.floats(0.05, 1.0),
       seed=st.integers(0, 2**31 - 1))
def test_a_random_crop_always_lies_inside_the_image(height, width, min_scale, seed):
    top, left, h, w = crop_box(np.random.default_rng(seed), height, width, min_scale)
    assert 0 < h and 0 < w
    assert 0 <= top and top + h <= height
    assert 0 <= left and left + w <= width


def test_random_crops_cover_the_asked_share_of_the_area_with_a_bounded_aspect():
    rng = np.random.default_rng(0)
    boxes = [crop_box(rng, 256, 341, 0.35) for _ in range(500)]
    areas = np.array([h * w for _, _, h, w in boxes]) / (256 * 341)
    aspects = np.array([w / h for _, _, h, w in boxes])
    assert areas.min() >= 0.35 - 0.01 and areas.max() <= 1.0
    assert aspects.min() >= 3 / 4 - 0.02 and aspects.max() <= 4 / 3 + 0.02
    assert areas.max() - areas.min() > 0.4  # the share really varies
    assert len({(top, left) for top, left, _, _ in boxes}) > 400  # and so does the position


def test_a_sample_is_augmented_by_its_seed_alone_and_the_global_random_state_is_untouched():
    transform = ImageTransform(size=64, resize=73, train=True, color_jitter=0.3, min_scale=0.35)
    image = gradient_image(90, 120)
    before = torch.random.get_rng_state()
    first = transform(image, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(123)  # whatever ran before in this process
    assert torch.equal(transform(image, seed=7), first)
    others = [transform(image, seed=seed) for seed in range(8, 16)]
    assert all(not torch.equal(other, first) for other in others)
    assert first.shape == (3, 64, 64) and first.dtype == torch.uint8


def test_half_the_training_samples_are_mirrored():
    transform = ImageTransform(size=32, resize=37, train=True, min_scale=1.0)  # full-image crop: only the flip varies
    image = gradient_image(32, 32)
    mirrored = [torch.equal(transform(image, seed), image.flip(-1)) for seed in range(400)]
    kept = [torch.equal(transform(image, seed), image) for seed in range(400)]
    assert all(m != k for m, k in zip(mirrored, kept))
    assert 150 < sum(mirrored) < 250


def test_colour_jitter_changes_colours_only_when_asked():
    image = gradient_image(40, 40)
    plain = ImageTransform(size=40, resize=46, train=True, min_scale=1.0)
    jitter = ImageTransform(size=40, resize=46, train=True, color_jitter=0.4, min_scale=1.0)
    for seed in range(5):
        out = plain(image, seed)
        assert torch.equal(out, image) or torch.equal(out, image.flip(-1))
        assert not (torch.equal(jitter(image, seed), image) or torch.equal(jitter(image, seed), image.flip(-1)))


@pytest.mark.parametrize("height, width", [(300, 400), (400, 300), (10, 10), (7, 500)])
def test_evaluation_resizes_the_short_side_then_crops_the_centre(height, width):
    transform = ImageTransform(size=56, resize=64, train=False)
    image = gradient_image(height, width)
    out = transform(image)
    assert out.shape == (3, 56, 56) and out.dtype == torch.uint8
    assert torch.equal(out, transform(image, seed=99))  # no randomness
    if (height, width) == (300, 400):  # a wide photo keeps its centre: left and right margins equal
        resized_width = round(400 * 64 / 300)
        margin = (resized_width - 56) / 2
        expected_red = (margin + 28) / (resized_width - 1) * 255
        assert abs(out[0, 28, 28].item() - expected_red) < 8


def jpeg_file(tmp_path, name: str, mode: str) -> str:
    array = gradient_image(48, 64).permute(1, 2, 0).numpy()
    image = Image.fromarray(array).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_cached_jpegs_decode_like_pillow_and_grey_ones_get_three_channels(tmp_path):
    colour, grey = jpeg_file(tmp_path, "c.jpg", "RGB"), jpeg_file(tmp_path, "g.jpg", "L")
    eval_identity = ImageTransform(size=48, resize=48, train=False)  # 64x48 -> centre 48x48, no resize
    data = LabelledImages([colour, grey], np.array([0, 1]), eval_identity)
    for (tensor, target), path, label in zip([data[0], data[1]], [colour, grey], [0, 1]):
        with Image.open(path) as image:
            pillow = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[:, :, 8:56]
        assert target == label and tensor.shape == (3, 48, 48)
        assert (tensor.int() - pillow.int()).abs().max() <= 3  # the same libjpeg, maybe another IDCT


def test_pillow_decodes_the_same_pixels_where_torchvision_can_no_longer_decode(tmp_path, monkeypatch):
    import sys

    from classify.data import read_rgb_tensor

    paths = [jpeg_file(tmp_path, "c.jpg", "RGB"), jpeg_file(tmp_path, "g.jpg", "L")]
    with_torchvision = [read_rgb_tensor(path) for path in paths]
    monkeypatch.setitem(sys.modules, "torchvision.io", None)  # `from torchvision.io import ...` fails
    with_pillow = [read_rgb_tensor(path) for path in paths]
    for a, b in zip(with_torchvision, with_pillow):
        assert a.shape == b.shape == (3, 48, 64) and a.dtype == b.dtype == torch.uint8
        assert (a.int() - b.int()).abs().max() <= 3
