"""Perceptual hashes and near-duplicate clustering (curate.filters.phash, curate.filters.neardup)."""

from __future__ import annotations

import io
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curate.errors import UsageError
from curate.filters import neardup
from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS, block_plan, cluster_near_duplicates, near_duplicate_pairs
from curate.filters.phash import (
    compute_phash_pairs,
    compute_phashes,
    hamming_distance,
    parse_phashes,
    phash_pair,
    phash_to_uint64,
    popcount64,
    uint64_to_phash,
)
from tests.helpers import examples

REAL_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "flickr-ferrari"
U64 = 2**64 - 1


# ---------------------------------------------------------------- the oracle

def brute_pairs(hashes: np.ndarray, max_bits: int) -> set[tuple[int, int]]:
    """Every pair i < j within max_bits, by comparing all pairs with Python's popcount."""
    values = [int(v) for v in hashes]
    return {(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
            if bin(values[i] ^ values[j]).count("1") <= max_bits}


def brute_labels(hashes: np.ndarray, max_bits: int) -> list[int]:
    """Connected components of the all-pairs graph, each labelled by its smallest index."""
    n = len(hashes)
    pairs = np.array(sorted(brute_pairs(hashes, max_bits)), dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    component = connected_components(graph, directed=False)[1]
    smallest = {c: int(np.flatnonzero(component == c).min()) for c in np.unique(component)}
    return [smallest[c] for c in component]


def flip(value: int, bits) -> int:
    return value ^ sum(1 << int(b) for b in bits)


@st.composite
def planted_hash_sets(draw):
    """Random hashes plus near copies of earlier hashes (copies of copies make chains),
    identical copies (no flipped bit), and sometimes a narrow bit range so many hashes
    share block values (big buckets)."""
    max_bits = draw(st.integers(0, 12))
    values = draw(st.lists(st.integers(0, U64), max_size=25))
    copies = draw(st.lists(st.tuples(st.integers(0, 10**6), st.sets(st.integers(0, 63), max_size=max_bits + 2)),
                           max_size=30))
    for parent, bits in copies:
        values.append(flip(values[parent % len(values)], bits) if values else flip(0, bits))
    if draw(st.booleans()):
        values = [v & draw(st.sampled_from([0xFF, 0xF0F0, 0xFFFF_0000_0000, U64 >> 40])) for v in values]
    plans = [None] + [m for m in range(1, max_bits + 2) if _patterns(m, max_bits) <= 5000]
    return np.array(values, dtype=np.uint64), max_bits, draw(st.sampled_from(plans))


def _patterns(blocks: int, max_bits: int) -> int:
    """Bit patterns a plan enumerates (a plan refused as too big counts as infinite)."""
    try:
        plan = block_plan(100, max_bits, blocks)
    except UsageError:
        return 10**18
    return sum(comb(b.width, r) for b in plan for r in range(1, b.radius + 1))


# ---------------------------------------------------------------- clustering == brute force

@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted_hash_sets())
def test_clusters_and_pairs_equal_brute_force(case):
    hashes, max_bits, blocks = case
    labels = cluster_near_duplicates(hashes, max_bits, blocks=blocks, workers=1)
    assert labels.dtype == np.int64
    assert labels.tolist() == brute_labels(hashes, max_bits)
    first, second = near_duplicate_pairs(hashes, max_bits, blocks=blocks)
    assert set(zip(first.tolist(), second.tolist())) == brute_pairs(hashes, max_bits)
    assert len(first) == len(set(zip(first.tolist(), second.tolist())))  # each pair once


@pytest.mark.parametrize("max_bits", [0, 1, 3, 6, 8, 10])
def test_every_block_count_agrees_on_planted_sets(max_bits):
    rng = np.random.default_rng(max_bits)
    base = rng.integers(0, 2**64, 120, dtype=np.uint64)
    # Near copies at distance 1..max_bits+2 of random earlier hashes: links just in and just out.
    parents = rng.integers(0, 120, 80)
    masks = [flip(0, rng.choice(64, int(rng.integers(1, max_bits + 3)), replace=False)) for _ in parents]
    hashes = np.concatenate([base, base[parents] ^ np.array(masks, dtype=np.uint64)])
    expected = brute_labels(hashes, max_bits)
    assert len(set(expected)) < len(hashes) or max_bits == 0
    for blocks in [None] + [m for m in range(1, max_bits + 2) if _patterns(m, max_bits) <= 50_000]:
        assert cluster_near_duplicates(hashes, max_bits, blocks=blocks).tolist() == expected, blocks


def test_chains_join_transitively():
    a = 0
    b = flip(a, [0, 1, 2])  # 3 bits from a
    c = flip(b, [3, 4, 5])  # 3 bits from b, 6 from a
    far = flip(a, range(10, 40))
    hashes = np.array([far, c, a, b], dtype=np.uint64)
    assert cluster_near_duplicates(hashes, max_bits=3).tolist() == [0, 1, 1, 1]
    assert cluster_near_duplicates(hashes, max_bits=2).tolist() == [0, 1, 2, 3]
    assert cluster_near_duplicates(hashes, max_bits=6).tolist() == [0, 1, 1, 1]


def test_threshold_is_inclusive():
    base = 0x0123_4567_89AB_CDEF
    for max_bits in (0, 1, 5, 8, 20):
        at = flip(base, range(max_bits))
        beyond = flip(base, range(max_bits + 1))
        assert cluster_near_duplicates(np.array([base, at], dtype=np.uint64), max_bits).tolist() == [0, 0]
        assert cluster_near_duplicates(np.array([base, beyond], dtype=np.uint64), max_bits).tolist() == [0, 1]


def test_max_bits_zero_groups_identical_hashes_only():
    hashes = np.array([5, 4, 5, 7, 4, 5], dtype=np.uint64)  # 4 and 5 differ in one bit
    assert cluster_near_duplicates(hashes, 0).tolist() == [0, 1, 0, 3, 1, 0]
    assert cluster_near_duplicates(hashes, 1).tolist() == [0, 0, 0, 0, 0, 0]


def test_large_identical_groups_are_one_node():
    # 30,000 copies of one hash would be 450 million pairs if compared pairwise.
    rng = np.random.default_rng(7)
    common = int(rng.integers(0, 2**63))
    others = rng.integers(0, 2**64, 500, dtype=np.uint64)
    near = flip(common, [1, 9])
    hashes = np.concatenate([others[:3], np.full(30_000, common, dtype=np.uint64), others[3:],
                             np.array([near], dtype=np.uint64)])
    labels = cluster_near_duplicates(hashes, 2)
    assert set(labels[3:30_003].tolist()) == {3}
    assert labels[-1] == 3
    assert labels[:3].tolist() == [0, 1, 2]


def test_labels_are_smallest_index_and_independent_of_order():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**64, 60, dtype=np.uint64)
    hashes = np.concatenate([base, base[:30] ^ np.uint64(0b1010)])
    order = rng.permutation(len(hashes))
    labels = cluster_near_duplicates(hashes, 2)
    shuffled = cluster_near_duplicates(hashes[order], 2)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        assert label == members.min()
        assert len(set(shuffled[np.argsort(order)][members].tolist())) == 1  # same group after shuffling
    assert len(np.unique(labels)) == len(np.unique(shuffled)) == 60


def test_empty_single_and_everything():
    assert cluster_near_duplicates(np.array([], dtype=np.uint64), 8).tolist() == []
    assert cluster_near_duplicates([], 8).dtype == np.int64
    assert cluster_near_duplicates(np.array([42], dtype=np.uint64), 8).tolist() == [0]
    assert cluster_near_duplicates(np.array([0, U64, 3], dtype=np.uint64), 64).tolist() == [0, 0, 0]
    first, second = near_duplicate_pairs(np.array([1], dtype=np.uint64), 3)
    assert len(first) == len(second) == 0


def test_int64_input_reads_the_same_bits():
    hashes = np.array([U64, U64 ^ 1, 7], dtype=np.uint64)
    assert cluster_near_duplicates(hashes.view(np.int64), 1).tolist() == [0, 0, 2]
    assert cluster_near_duplicates([U64, U64 ^ 1, 7], 1).tolist() == [0, 0, 2]  # a list of Python ints
    with pytest.raises(UsageError, match="whole numbers"):
        cluster_near_duplicates([1, -1], 1)


@pytest.mark.parametrize("max_bits", [-1, 65, 2.5, True, "8", None])
def test_bad_threshold_is_a_usage_error(max_bits):
    with pytest.raises(UsageError, match="threshold"):
        cluster_near_duplicates(np.array([1, 2], dtype=np.uint64), max_bits)


@pytest.mark.parametrize("hashes", [np.zeros((2, 2), dtype=np.uint64), np.array([1.5, 2.0]),
                                    np.array([-1, 2], dtype=np.int32), np.array(["ab", "cd"])])
def test_bad_hashes_are_a_usage_error(hashes):
    with pytest.raises(UsageError, match="hashes"):
        cluster_near_duplicates(hashes, 4)


def test_bounded_batches_give_the_same_pairs(monkeypatch):
    """Tiny batch sizes exercise the chunked and big-bucket code paths, and threads, on small data."""
    rng = np.random.default_rng(11)
    hashes = rng.integers(0, 2**64, 400, dtype=np.uint64) & np.uint64(0x0F0F_0000_00FF_0F00)  # crowded buckets
    hashes[200:] = hashes[:200] ^ np.uint64(0b11 << 20)
    expected = brute_pairs(hashes, 5)
    monkeypatch.setattr(neardup, "_PAIR_CHUNK", 31)
    monkeypatch.setattr(neardup, "_DIRECT_RANKS", 1)
    monkeypatch.setattr(neardup, "_THREADS_MIN_HASHES", 0)
    for blocks, workers in ((None, 1), (3, 3), (6, 2)):
        first, second = near_duplicate_pairs(hashes, 5, blocks=blocks, workers=workers)
        assert set(zip(first.tolist(), second.tolist())) == expected


def test_block_plan_follows_the_pigeonhole_bound():
    for max_bits in range(0, 13):
        for blocks in range(1, 20):
            if _patterns(blocks, max_bits) > 10**7:
                continue
            plan = block_plan(1000, max_bits, blocks)
            ends = [b.shift + b.width for b in plan]
            assert all(end <= nxt.shift for end, nxt in zip(ends, plan[1:])) and ends[-1] <= 64  # disjoint bits
            # A pair that differs by more than the radius in every searched block differs in
            # at least sum(radius + 1) bits, which must exceed max_bits.
            assert sum(b.radius + 1 for b in plan) >= max_bits + 1
    assert len(block_plan(1_000_000, DEFAULT_NEAR_DUP_BITS)) < DEFAULT_NEAR_DUP_BITS + 1  # wide blocks at scale
    with pytest.raises(UsageError, match="blocks"):
        block_plan(10, 4, 0)
    with pytest.raises(UsageError, match="more blocks"):
        block_plan(10, 12, 1)  # C(64, <=12) bit patterns: refused, not attempted


# ---------------------------------------------------------------- hex, popcount

def test_hex_round_trip_and_validation():
    rng = np.random.default_rng(5)
    values = rng.integers(0, 2**64, 50, dtype=np.uint64)
    text = uint64_to_phash(values)
    assert all(len(t) == 16 for t in text)
    assert phash_to_uint64(text).tolist() == values.tolist()
    assert phash_to_uint64([t.upper() for t in text]).tolist() == values.tolist()
    assert phash_to_uint64([]).dtype == np.uint64
    parsed, ok = parse_phashes(["ffffffffffffffff", None, "fffffffffffffff", "0ffffffffffffffff", "g000000000000000",
                                float("nan"), "00000000000000é0", 7])
    assert ok.tolist() == [True] + [False] * 7
    assert parsed.tolist() == [U64] + [0] * 7
    with pytest.raises(ValueError, match="position 1"):
        phash_to_uint64(["0000000000000000", "not a hash"])


def test_popcount_and_hamming_match_python(monkeypatch):
    rng = np.random.default_rng(9)
    a = rng.integers(0, 2**64, 200, dtype=np.uint64)
    b = rng.integers(0, 2**64, 200, dtype=np.uint64)
    expected = [bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b)]
    assert hamming_distance(a, b).tolist() == expected
    assert hamming_distance(a[:3, None], b[None, :4]).shape == (3, 4)
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # NumPy < 2: byte lookup table
    assert popcount64(a ^ b).tolist() == expected
    assert popcount64(np.array([[0, U64]], dtype=np.uint64)).tolist() == [[0, 64]]


# ---------------------------------------------------------------- perceptual hashes of images

def photo_like(seed: int, width: int = 320, height: int = 240) -> Image.Image:
    """A smooth random colour field with a few solid shapes: low frequencies like a photo."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        size_x, size_y = (int(s) for s in rng.integers(20, 120, 2))
        draw.ellipse([x, y, x + size_x, y + size_y], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return image


def shifted_copy(image: Image.Image) -> Image.Image:
    """Crop 1% off the left and top (a small shift and zoom), then re-encode as JPEG quality 40."""
    cropped = image.crop((image.width // 100, image.height // 100, image.width, image.height))
    buffer = io.BytesIO()
    cropped.save(buffer, "JPEG", quality=40)
    return Image.open(io.BytesIO(buffer.getvalue()))


def _save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def test_edited_copies_are_within_the_default_and_other_photos_are_not(tmp_path):
    originals = [_save(photo_like(seed), tmp_path / f"photo{seed}.jpg", quality=92) for seed in range(12)]
    copies = [_save(shifted_copy(Image.open(path)), tmp_path / f"copy{i}.png") for i, path in enumerate(originals)]
    hashes = phash_to_uint64(compute_phashes(originals + copies))
    n = len(originals)
    assert (hamming_distance(hashes[:n], hashes[n:]) <= DEFAULT_NEAR_DUP_BITS).all()
    different = hamming_distance(hashes[:n, None], hashes[None, :n])[np.triu_indices(n, 1)]
    assert (different > DEFAULT_NEAR_DUP_BITS).all()
    assert cluster_near_duplicates(hashes, DEFAULT_NEAR_DUP_BITS).tolist() == list(range(n)) * 2


def test_real_photos_edited_copies_within_default_others_not(tmp_path):
    paths = sorted(REAL_PHOTOS.glob("*/*.jpg"))[:16]
    if not paths:
        pytest.skip(f"real photos not found at {REAL_PHOTOS} (see ../shared/realdata)")
    copies = [_save(shifted_copy(Image.open(path).convert("RGB")), tmp_path / f"copy{i}.jpg", quality=90)
              for i, path in enumerate(paths)]
    hashes = phash_to_uint64(compute_phashes(paths + copies))
    n = len(paths)
    assert (hamming_distance(hashes[:n], hashes[n:]) <= DEFAULT_NEAR_DUP_BITS).all()
    assert (hamming_distance(hashes[:n, None], hashes[None, :n])[np.triu_indices(n, 1)] > DEFAULT_NEAR_DUP_BITS).all()


def test_exif_rotated_copy_hashes_like_the_upright_photo(tmp_path):
    upright = photo_like(21)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored = upright.rotate(90, expand=True)  # the sensor's pixels, turned counter-clockwise
    paths = [_save(upright, tmp_path / "upright.png"), _save(stored, tmp_path / "rotated.png", exif=exif)]
    plain = _save(stored, tmp_path / "rotated_no_exif.png")
    upright_hash, rotated_hash, plain_hash = compute_phashes(paths + [plain])
    assert upright_hash == rotated_hash
    assert phash_to_uint64([upright_hash]) != phash_to_uint64([plain_hash])


def test_unreadable_files_give_none_in_place(tmp_path):
    good = _save(photo_like(1), tmp_path / "good.jpg")
    data = good.read_bytes()
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("<html>404</html>")
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    paths = [tmp_path / "empty.jpg", good, tmp_path / "missing.jpg", tmp_path / "text.jpg", tmp_path / "cut.jpg",
             tmp_path, good]
    for workers in (1, 2, 4):
        result = compute_phashes(iter(paths), workers=workers)
        assert result[1] == result[6] and len(result[1]) == 16
        assert [r is None for r in result] == [True, False, True, True, True, True, False]
    assert compute_phashes([]) == []
    with pytest.raises(ValueError, match="workers"):
        compute_phashes([good], workers=0)


def test_phash_pair_is_imagehash_of_the_image_and_of_its_mirror(tmp_path):
    import imagehash

    for seed in range(6):
        image = photo_like(seed, 300 + 17 * seed, 200 + 9 * seed)
        mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        plain, mirror = phash_pair(image)
        assert plain == str(imagehash.phash(image))
        assert mirror == str(imagehash.phash(mirrored))
        assert phash_pair(mirrored) == (mirror, plain)  # flipping swaps the two
    path = _save(photo_like(3), tmp_path / "p.png")
    expected = phash_pair(Image.open(path).convert("RGB"))
    assert compute_phash_pairs([path, tmp_path / "missing.png"], workers=2) == [expected, None]
    assert compute_phash_pairs([path])[0][0] == compute_phashes([path])[0]


# ---------------------------------------------------------------- flip-invariant pairs and the linking rule

def brute_mirror_pairs(hashes, mirrors, max_bits):
    """Every pair i < j with min(d(h_i, h_j), d(h_i, m_j), d(m_i, h_j)) <= max_bits, by Python popcounts."""
    d = lambda a, b: bin(int(a) ^ int(b)).count("1")  # noqa: E731
    n = len(hashes)
    return {(i, j) for i in range(n) for j in range(i + 1, n)
            if min(d(hashes[i], hashes[j]), d(hashes[i], mirrors[j]), d(mirrors[i], hashes[j])) <= max_bits}


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, U64), st.integers(0, U64)), min_size=0, max_size=30),
       st.lists(st.tuples(st.integers(0, 10**6), st.booleans(), st.sets(st.integers(0, 63), max_size=6)), max_size=20),
       st.integers(0, 6))
def test_mirror_pairs_match_brute_force(images, copies, max_bits):
    images = list(images)
    for parent, flipped, bits in copies:  # plain or mirrored near copies of earlier images
        if images:
            h, m = images[parent % len(images)]
            images.append((flip(m, bits), flip(h, bits)) if flipped else (flip(h, bits), flip(m, bits)))
    hashes = np.array([h for h, _ in images], dtype=np.uint64)
    mirrors = np.array([m for _, m in images], dtype=np.uint64)
    first, second, distance, mirrored = neardup.mirror_pairs(hashes, mirrors, max_bits)
    assert set(zip(first.tolist(), second.tolist())) == brute_mirror_pairs(hashes, mirrors, max_bits)
    plain = hamming_distance(hashes[first], hashes[second])
    assert (distance <= max_bits).all() and (distance == np.where(mirrored, distance, plain)).all()
    assert (distance[mirrored] < plain[mirrored]).all()


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, U64), st.integers(0, U64)), min_size=2, max_size=25),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.sets(st.integers(0, 63), max_size=6)),
                max_size=10),
       st.integers(0, 6))
def test_trimmed_views_match_brute_force(images, framed, max_bits):
    """With border-trimmed hashes, a pair qualifies through any view but a trimmed-against-mirror one; two framed
    images (both with a trimmed hash) through their trimmed views alone, unless their own hashes are within
    FRAMED_WHOLE_BITS as they are or one mirrored (audit DF 5: one app's frame brings two different photos'
    screenshots near)."""
    hashes = np.array([h for h, _ in images], dtype=np.uint64)
    mirrors = np.array([m for _, m in images], dtype=np.uint64)
    trimmed = hashes.copy()
    for image, parent, bits in framed:  # a framed copy: its trimmed hash is near another image's hash
        trimmed[image % len(images)] = flip(int(hashes[parent % len(images)]), bits)
    d = lambda a, b: bin(int(a) ^ int(b)).count("1")  # noqa: E731
    n = len(hashes)
    has_frame = trimmed != hashes

    def distance(i: int, j: int) -> int:
        if has_frame[i] and has_frame[j] and min(d(hashes[i], hashes[j]), d(hashes[i], mirrors[j]),
                                                 d(mirrors[i], hashes[j])) > neardup.FRAMED_WHOLE_BITS:
            return d(trimmed[i], trimmed[j])
        return min(d(hashes[i], hashes[j]), d(hashes[i], mirrors[j]), d(mirrors[i], hashes[j]),
                   d(trimmed[i], hashes[j]), d(hashes[i], trimmed[j]), d(trimmed[i], trimmed[j]))

    expected = {(i, j) for i in range(n) for j in range(i + 1, n) if distance(i, j) <= max_bits}
    first, second, _, _ = neardup.mirror_pairs(hashes, mirrors, max_bits, trimmed=trimmed)
    assert set(zip(first.tolist(), second.tolist())) == expected


def test_mirror_pairs_rejects_mismatched_lengths():
    with pytest.raises(UsageError, match="one entry per image"):
        neardup.mirror_pairs(np.zeros(3, np.uint64), np.zeros(2, np.uint64), 4)


def _evidence(images, vectors=None):
    from curate.filters import verify

    pairs = [phash_pair(image) for image in images]
    thumbs = np.stack([np.frombuffer(image.convert("RGB").resize((verify.THUMB_WIDTH, verify.THUMB_HEIGHT),
                                                                 Image.BILINEAR).tobytes(), np.uint8)
                       for image in images])
    return verify.Evidence(phash_to_uint64([p[0] for p in pairs]), phash_to_uint64([p[1] for p in pairs]),
                           thumbs, np.ones(len(images), bool), vectors)


def _linked(evidence, rule) -> set:
    from curate.filters import verify

    first, second, _ = verify.link_pairs(evidence, rule)
    return set(zip(first.tolist(), second.tolist()))


def test_flipped_and_greyscale_copies_are_linked_by_hash_and_colour():
    """Generated photos: a mirrored copy and a greyscale copy pass pHash (with its mirror) and the
    grey-aware colour check; without the mirror hash the flipped copy is missed, as before."""
    from curate.filters import verify

    photos = [photo_like(seed) for seed in (31, 32, 33)]
    images = photos + [photos[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT), photos[1].convert("L").convert("RGB")]
    rule = verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=None, verify_cosine=None)
    evidence = _evidence(images)
    assert _linked(evidence, rule) == {(0, 3), (1, 4)}
    without_mirror = verify.Evidence(evidence.hashes, None, evidence.thumbs, evidence.has_thumb)
    assert _linked(without_mirror, rule) == {(1, 4)}


def test_colour_check_still_rejects_a_recoloured_layout():
    """The same shapes in other colours (the procedural demo's failure mode): pHash within the
    threshold, colours far apart, no embeddings -> not linked."""
    from curate.filters import verify

    image = photo_like(40)
    recoloured = Image.fromarray(np.asarray(image)[:, :, ::-1].copy())  # RGB -> BGR: same luminance layout
    evidence = _evidence([image, recoloured])
    rule = verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=None, verify_cosine=None)
    assert hamming_distance(evidence.hashes[:1], evidence.hashes[1:])[0] <= DEFAULT_NEAR_DUP_BITS
    assert _linked(evidence, rule) == set()


def test_embeddings_confirm_hash_candidates_whose_colours_differ():
    from curate.filters import verify

    photos = [photo_like(seed) for seed in (51, 52, 53)]
    brighter = Image.fromarray(np.clip(np.asarray(photos[2], np.int16) + 40, 0, 255).astype(np.uint8))
    images = photos + [brighter]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 64)).astype(np.float32)  # unrelated directions: cosine ~0
    vectors[3] = vectors[2] + 0.05 * rng.normal(size=64)  # the brightened copy: cosine ~0.999
    evidence = _evidence(images, vectors)
    assert _linked(evidence, verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=None, verify_cosine=None)) == set()
    assert _linked(evidence, verify.LinkRule(DEFAULT_NEAR_DUP_BITS, cosine=None, verify_cosine=0.9)) == {(2, 3)}


def test_embedding_links_need_hashes_within_cosine_max_bits():
    """A pair is linked on its embeddings alone only when its pHashes are within cosine_max_bits
    (in either orientation): on real photos, different shots of one street that the backbone
    finds alike (cosine 0.90-0.95) are 18+ bits apart, edited copies mostly within 16."""
    from curate.filters import verify

    h0 = 0x0123456789ABCDEF
    hashes = np.array([h0, h0 ^ 0xFFF, h0 ^ 0xFFFFFFFF, 0xFFFFFFFF00000000], dtype=np.uint64)  # 0, 12, 32 bits
    mirrors = np.array([h0 ^ (0xFFFFFFFF << 32), 0, 0xFFFF, h0 ^ 0xF], dtype=np.uint64)  # 3's mirror: 4 bits from 0
    thumbs = np.arange(4, dtype=np.uint8)[:, None] * 60 + np.zeros((4, verify.THUMB_BYTES), np.uint8)  # colours differ
    rng = np.random.default_rng(1)
    vectors = np.tile(rng.normal(size=(1, 32)), (4, 1)) + 0.01 * rng.normal(size=(4, 32))  # all alike: cosine ~1
    evidence = verify.Evidence(hashes, mirrors, thumbs, np.ones(4, bool), vectors.astype(np.float32))
    rule = verify.LinkRule(8, cosine=0.95, verify_cosine=None, cosine_max_bits=16)
    assert _linked(evidence, rule) == {(0, 1), (0, 3), (1, 3)}  # 1-3: 3's mirror is 8 bits from 1's hash
    ungated = verify.LinkRule(8, cosine=0.95, verify_cosine=None, cosine_max_bits=None)
    assert _linked(evidence, ungated) == {(i, j) for i in range(4) for j in range(i + 1, 4)}

def _stage_catalog(rows):
    from curate import schema

    base = {"source": "t", "status": "kept", "tags": [], "tag_labels": [], "owner_id": "o", "label": "city",
            "taken_at": pd.NaT, "width": 10, "height": 10, "drop_reason": None, "drop_stage": None}
    frame = pd.DataFrame([{**base, "photo_id": f"t:{i}", "source_id": str(i), **row} for i, row in enumerate(rows)])
    return schema.to_pandas(schema.conform(frame))


def test_filter_stage_links_mirrored_hashes_and_close_embeddings():
    from curate.filters.stage import FilterConfig, filter_catalog
    from curate.filters.verify import THUMB_BYTES

    grey = bytes([100] * THUMB_BYTES)
    rows = [{"sha256": "a", "phash": "ffffffff00000000", "phash_mirror": "0f0f0f0f0f0f0f0f"},
            {"sha256": "b", "phash": "0f0f0f0f0f0f0f0f", "phash_mirror": "ffffffff00000000"},  # a's mirror image
            {"sha256": "c", "phash": "00000000ffffffff", "phash_mirror": "3333333333333333"},
            {"sha256": "d", "phash": "00000000fffff000", "phash_mirror": "aaaaaaaaaaaaaaaa"},  # 12 bits from c
            {"sha256": "e", "phash": "cccccccccccccccc", "phash_mirror": "f0f0f0f0f0f0f0f0"}]
    thumbs = {sha: grey for sha in "abcde"}
    vectors = np.eye(5, 8, dtype=np.float32)
    vectors[3] = vectors[2] + 0.1 * np.eye(1, 8, 7, dtype=np.float32)[0]  # cosine 0.995 to c's
    out, report = filter_catalog(_stage_catalog(rows), FilterConfig(), thumbnails=thumbs,
                                 embeddings=(list("abcde"), vectors))
    clusters = out["near_dup_cluster"].tolist()
    assert clusters[0] == clusters[1] and clusters[2] == clusters[3]
    assert len(set(clusters)) == 3 and report.near_duplicate_clusters == 2
    assert any("by embedding alone" in note for note in report.notes)
    plain, _ = filter_catalog(_stage_catalog(rows), FilterConfig(near_dup_cosine=None), thumbnails=thumbs,
                              embeddings=(list("abcde"), vectors))
    assert plain["near_dup_cluster"].nunique() == 4  # the embedding link is off: c and d apart


def test_a_filter_without_embeddings_works_on_phash_and_says_curate_embed_helps():
    """A standalone `curate filter` before `curate embed`: pHash links only, and one note naming
    the edits it misses and the command that fixes it; none once embeddings are given."""
    from curate.filters.clusters import NO_EMBEDDINGS_NOTE
    from curate.filters.stage import FilterConfig, filter_catalog
    from curate.filters.verify import THUMB_BYTES

    rows = [{"sha256": "a", "phash": "ffffffff00000000", "phash_mirror": "0f0f0f0f0f0f0f0f"},
            {"sha256": "b", "phash": "ffffffff00000001", "phash_mirror": "0f0f0f0f0f0f0f0e"}]
    thumbs = {"a": bytes([100] * THUMB_BYTES), "b": bytes([101] * THUMB_BYTES)}
    out, report = filter_catalog(_stage_catalog(rows), FilterConfig(), thumbnails=thumbs)
    assert out["near_dup_cluster"].nunique() == 1  # still found on pHash alone
    lines = [note for note in report.notes if "curate embed" in note]
    assert lines == [NO_EMBEDDINGS_NOTE] and "\n" not in lines[0]
    _, embedded = filter_catalog(_stage_catalog(rows), FilterConfig(), thumbnails=thumbs,
                                 embeddings=(["a", "b"], np.eye(2, 4, dtype=np.float32)))
    assert not any("curate embed" in note for note in embedded.notes)


@pytest.mark.parametrize("value", [0, 1.5, -0.2, "high", True, float("nan")])
def test_cosine_thresholds_are_checked(value):
    from curate.filters.stage import FilterConfig

    with pytest.raises(UsageError, match="near-dup-cosine|near-dup-verify-cosine"):
        FilterConfig(near_dup_cosine=value)
    with pytest.raises(UsageError, match="near-dup-verify-cosine"):
        FilterConfig(near_dup_verify_cosine=value)


# ---------------------------------------------------------------- embedding neighbours

def brute_cosine_pairs(vectors, min_cosine):
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms > 0, norms, 1)[:, None]
    cosine = unit @ unit.T
    return {(i, j) for i in range(len(vectors)) for j in range(i + 1, len(vectors))
            if norms[i] > 0 and norms[j] > 0 and cosine[i, j] >= min_cosine}


@pytest.mark.parametrize("dims", [2, 16, 64])
def test_cosine_pairs_exact_path_equals_brute_force(dims):
    from curate.filters.embed_neighbours import cosine_pairs

    rng = np.random.default_rng(dims)
    vectors = rng.normal(size=(300, 64)).astype(np.float32)
    vectors[150:] = vectors[:150] + rng.uniform(0.05, 0.8, (150, 1)) * rng.normal(size=(150, 64))  # around 0.9
    vectors[7] = 0  # an image that failed: pairs with nothing
    first, second, cosine = cosine_pairs(vectors, 0.9, dims=dims)
    assert set(zip(first.tolist(), second.tolist())) == brute_cosine_pairs(vectors, 0.9)
    assert (cosine >= 0.9).all() and (np.diff(first) >= 0).all()


def test_cosine_pairs_ivf_path_finds_planted_copies_and_only_true_pairs():
    from curate.filters.embed_neighbours import cosine_pairs

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, 32))
    vectors = (centres[rng.integers(0, 20, 3000)] + rng.normal(size=(3000, 32))).astype(np.float32)
    vectors[2500:] = vectors[:500] + 0.1 * rng.normal(size=(500, 32))  # cosine ~0.99 to their originals
    first, second, _ = cosine_pairs(vectors, 0.95, exact_limit=100, probes=4)  # IVF: 3000 > 100
    found = set(zip(first.tolist(), second.tolist()))
    exact = brute_cosine_pairs(vectors, 0.95)
    assert found <= exact  # every pair is verified on the full vectors
    planted = {(i, 2500 + i) for i in range(500)}
    assert len(found & planted) >= 0.98 * len(planted & exact)


def test_cosine_pairs_rejects_bad_thresholds_and_shapes():
    from curate.filters.embed_neighbours import cosine_pairs

    with pytest.raises(UsageError, match="cosine"):
        cosine_pairs(np.ones((3, 4)), 0)
    with pytest.raises(UsageError, match="2-D"):
        cosine_pairs(np.ones(4), 0.9)
    first, second, cosine = cosine_pairs(np.ones((1, 4)), 0.9)
    assert len(first) == len(second) == len(cosine) == 0


def test_cosine_thresholds_accept_off_and_text():
    from curate.filters.stage import FilterConfig

    config = FilterConfig(near_dup_cosine="OFF", near_dup_verify_cosine="0.8")
    assert config.near_dup_cosine is None and config.near_dup_verify_cosine == 0.8


def test_cli_near_dup_cosine_flag_reaches_the_stage(tmp_path):
    from typer.testing import CliRunner

    from curate.cli.app import app

    result = CliRunner().invoke(app, ["filter", "--workspace", str(tmp_path / "nowhere"), "--near-dup-cosine", "2"])
    assert result.exit_code == 2 and "near-dup-cosine" in result.output and "Traceback" not in result.output


def test_ensure_phashes_fills_missing_mirror_hashes(tmp_path):
    from types import SimpleNamespace

    from curate.filters.run import ensure_phashes

    _save(photo_like(7), tmp_path / "a.png")
    catalog = pd.DataFrame({"sha256": ["x", "y"], "image_path": ["a.png", None],
                            "phash": ["0000000000000000", None], "phash_mirror": [None, None]})
    filled = ensure_phashes(SimpleNamespace(root=tmp_path), catalog, workers=1)
    expected = phash_pair(Image.open(tmp_path / "a.png").convert("RGB"))
    assert (filled.loc[0, "phash"], filled.loc[0, "phash_mirror"]) == expected
    assert pd.isna(filled.loc[1, "phash"]) and pd.isna(filled.loc[1, "phash_mirror"])  # no image: nothing to hash
    assert catalog.loc[0, "phash_mirror"] is None  # input not mutated



def test_the_demo_recipe_keeps_its_look_alike_pictures_apart_when_embedded(tmp_path):
    """`curate run` now embeds before the filter. The backbone sees different procedural demo
    pictures of one city as one (cosine up to 0.99). With embeddings that all agree, the demo
    recipe (embedding links off) and the default rule (which calibrates on the collection and turns
    them off itself) keep its bursts at the 0.95 targets; the rule that trusts them does not."""
    from curate.embed import EmbeddingCache
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.pipeline import build_config
    from curate.recipes import load_recipe
    from curate.score import workspace_scorecard
    from curate.stage_reports import load_stage_report
    from curate.workspace import read_catalog
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path / "ws", photos=300, seed=7, size=(160, 120), commands=())
    shas = read_catalog(ws)["sha256"].dropna().drop_duplicates().tolist()
    rng = np.random.default_rng(0)
    alike = rng.normal(size=(1, 64)) + 0.05 * rng.normal(size=(len(shas), 64))  # every pair: cosine ~0.99
    EmbeddingCache(ws, "efficientnet_lite0").append(shas, alike.astype(np.float32), np.ones(len(shas), bool))
    demo = load_recipe("demo")

    def bursts(config):
        run_filter(ws, config, demo)
        return {row["metric"]: row for row in workspace_scorecard(ws)[0]}["burst_near_duplicate"]

    recipe_config = build_config(FilterConfig, demo.stage_defaults("filter"), "demo [filter]")
    assert recipe_config.near_dup_cosine is None and recipe_config.near_dup_verify_cosine is None
    kept_apart = bursts(recipe_config)
    assert kept_apart["tp"] > 0 and kept_apart["precision"] >= 0.95 and kept_apart["recall"] >= 0.95, kept_apart
    calibrated = bursts(FilterConfig())  # the defaults see that the embeddings do not tell these photos apart
    assert calibrated["tp"] > 0 and calibrated["precision"] >= 0.95 and calibrated["recall"] >= 0.95, calibrated
    notes = " ".join(load_stage_report(ws, "filter")["notes"])
    assert "embedding links off" in notes and "hashes crowded" in notes
    # what the embedding links would do to the demo when nothing checks them (the pixel match off: with
    # every pair a candidate it would take minutes, and it is not what this checks)
    assert bursts(FilterConfig(near_dup_crowded_share="off", near_dup_window_score="off"))["precision"] < 0.5


def test_link_colour_diff_keeps_look_alike_neighbours_apart_beyond_the_hash_threshold():
    """An embedding link between images farther apart than max_bits also needs close colours when
    link_colour_diff is set (neighbouring shots of one street: cosine 0.90-0.95, colours 15+ apart),
    while a pair within max_bits is decided as before; the filter takes it from its config."""
    from curate.filters import verify
    from curate.filters.stage import FilterConfig

    h0 = 0x0123456789ABCDEF
    hashes = np.array([h0, h0 ^ 0xFFF, h0 ^ 0xF], dtype=np.uint64)  # 1 is 12 bits from 0, 2 is 4 bits
    thumbs = np.zeros((3, verify.THUMB_BYTES), np.uint8)
    thumbs[1] += 40  # 1's colours are 40 apart from 0's and 2's
    thumbs[2] += 30  # 2's are 30 apart from 0's: a brightness edit within max_bits
    rng = np.random.default_rng(2)
    vectors = (np.tile(rng.normal(size=(1, 16)), (3, 1)) + 0.01 * rng.normal(size=(3, 16))).astype(np.float32)
    evidence = verify.Evidence(hashes, hashes, thumbs, np.ones(3, bool), vectors)
    loose = verify.LinkRule(8, cosine=0.9, verify_cosine=0.85, cosine_max_bits=16)
    assert _linked(evidence, loose) == {(0, 1), (0, 2), (1, 2)}
    strict = verify.LinkRule(8, cosine=0.9, verify_cosine=0.85, cosine_max_bits=16, link_colour_diff=15.0)
    assert _linked(evidence, strict) == {(0, 2), (1, 2)}  # 1-2: 8 bits, within max_bits: cosine confirms it
    assert FilterConfig(near_dup_link_colour_diff=15).near_dup_link_colour_diff == 15
    with pytest.raises(UsageError, match="near_dup_link_colour_diff"):
        FilterConfig(near_dup_link_colour_diff=300)
