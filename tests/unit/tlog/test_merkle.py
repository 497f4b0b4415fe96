"""RFC 6962 Merkle trees: reference roots, proofs, and the verifier's binding to index and size."""

from __future__ import annotations

import hashlib
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagesig.errors import InclusionProofError
from imagesig.tlog.merkle import (
    EMPTY_ROOT,
    MAX_PROOF_HASHES,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_inclusion,
)

# The eight leaves and roots used by RFC 6962 implementations as their reference test data.
REFERENCE_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
REFERENCE_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def naive_root(hashes: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 §2.1, over leaf hashes."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return node_hash(naive_root(hashes[:split]), naive_root(hashes[split:]))


def naive_path(index: int, hashes: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) straight from RFC 6962 §2.1.1."""
    if len(hashes) <= 1:
        return []
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    if index < split:
        return [*naive_path(index, hashes[:split]), naive_root(hashes[split:])]
    return [*naive_path(index - split, hashes[split:]), naive_root(hashes[:split])]


def build(count: int) -> MerkleTree:
    tree = MerkleTree()
    for i in range(count):
        tree.append(i.to_bytes(4, "big"))
    return tree


@st.composite
def tree_and_position(draw: st.DrawFn) -> tuple[MerkleTree, int, int]:
    count = draw(st.integers(min_value=1, max_value=300))
    tree = build(count)
    size = draw(st.integers(min_value=1, max_value=count))
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return tree, index, size


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert leaf_hash(b"a" * 32 + b"b" * 32) != node_hash(b"a" * 32, b"b" * 32)


def test_roots_match_the_rfc6962_reference_data() -> None:
    tree = MerkleTree()
    for data in REFERENCE_LEAVES:
        tree.append(data)
    assert [tree.root_at(n).hex() for n in range(1, 9)] == REFERENCE_ROOTS
    assert tree.root().hex() == REFERENCE_ROOTS[-1]


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    tree = MerkleTree()
    assert tree.size == 0
    assert tree.root() == hashlib.sha256(b"").digest() == tree.root_at(0)


def test_append_returns_consecutive_indexes() -> None:
    tree = MerkleTree()
    assert [tree.append(b"%d" % i) for i in range(5)] == [0, 1, 2, 3, 4]
    assert tree.size == 5
    assert tree.leaf_hash(3) == leaf_hash(b"3")


def test_tree_agrees_with_the_recursive_definition_for_every_size_and_index() -> None:
    tree = build(40)
    hashes = [tree.leaf_hash(i) for i in range(40)]
    for size in range(1, 41):
        assert tree.root_at(size) == naive_root(hashes[:size])
        for index in range(size):
            assert tree.inclusion_proof(index, size) == naive_path(index, hashes[:size])


@settings(max_examples=200, deadline=None)
@given(tree_and_position())
def test_every_proof_from_a_random_tree_verifies(case: tuple[MerkleTree, int, int]) -> None:
    tree, index, size = case
    proof = tree.inclusion_proof(index, size)
    assert len(proof) <= MAX_PROOF_HASHES
    verify_inclusion(index, size, tree.leaf_hash(index), proof, tree.root_at(size))


@settings(max_examples=200, deadline=None)
@given(tree_and_position(), st.data())
def test_any_single_changed_proof_hash_fails(
    case: tuple[MerkleTree, int, int], data: st.DataObject
) -> None:
    tree, index, size = case
    proof = tree.inclusion_proof(index, size)
    if not proof:
        return
    position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    changed = bytearray(proof[position])
    changed[bit // 8] ^= 1 << (bit % 8)
    proof[position] = bytes(changed)
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, tree.leaf_hash(index), proof, tree.root_at(size))


@settings(max_examples=200, deadline=None)
@given(tree_and_position(), st.data())
def test_any_other_index_fails(case: tuple[MerkleTree, int, int], data: st.DataObject) -> None:
    tree, index, size = case
    other = data.draw(st.integers(min_value=0, max_value=size + 5).filter(lambda i: i != index))
    proof = tree.inclusion_proof(index, size)
    with pytest.raises(InclusionProofError):
        verify_inclusion(other, size, tree.leaf_hash(index), proof, tree.root_at(size))


@settings(max_examples=200, deadline=None)
@given(tree_and_position(), st.data())
def test_any_other_tree_size_fails(case: tuple[MerkleTree, int, int], data: st.DataObject) -> None:
    tree, index, size = case
    other = data.draw(st.integers(min_value=0, max_value=tree.size).filter(lambda n: n != size))
    proof = tree.inclusion_proof(index, size)
    # Checked against what the log would sign for that size: the root of that tree.
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, other, tree.leaf_hash(index), proof, tree.root_at(other))


def test_the_bare_proof_does_not_bind_the_size_so_the_checkpoint_must() -> None:
    # Leaf 0 of a 3-leaf tree and of a 4-leaf tree has siblings on the same side at every
    # level, so the size-3 proof "verifies" for size 4 against the size-3 root. What stops
    # this is the signed checkpoint binding size and root together (see test_verify.py).
    tree = build(4)
    proof = tree.inclusion_proof(0, 3)
    verify_inclusion(0, 4, tree.leaf_hash(0), proof, tree.root_at(3))
    with pytest.raises(InclusionProofError):
        verify_inclusion(0, 4, tree.leaf_hash(0), proof, tree.root_at(4))


@settings(max_examples=100, deadline=None)
@given(tree_and_position())
def test_another_leaf_or_root_fails(case: tuple[MerkleTree, int, int]) -> None:
    tree, index, size = case
    proof = tree.inclusion_proof(index, size)
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, leaf_hash(b"other"), proof, tree.root_at(size))
    with pytest.raises(InclusionProofError):
        verify_inclusion(index, size, tree.leaf_hash(index), proof, leaf_hash(b"root"))


def test_extra_or_missing_proof_hashes_fail() -> None:
    tree = build(13)
    proof = tree.inclusion_proof(5)
    root = tree.root()
    with pytest.raises(InclusionProofError, match="more hashes"):
        root_from_inclusion_proof(5, 13, tree.leaf_hash(5), [*proof, proof[0]])
    with pytest.raises(InclusionProofError, match="fewer hashes"):
        root_from_inclusion_proof(5, 13, tree.leaf_hash(5), proof[:-1])
    verify_inclusion(5, 13, tree.leaf_hash(5), proof, root)


def test_single_leaf_tree_has_an_empty_proof() -> None:
    tree = build(1)
    assert tree.inclusion_proof(0) == []
    verify_inclusion(0, 1, tree.leaf_hash(0), [], tree.root())


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4), (5, 2)])
def test_index_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(InclusionProofError, match="outside") as info:
        root_from_inclusion_proof(index, size, leaf_hash(b""), [])
    assert info.value.context["check"] == "inclusion-proof"


def test_hashes_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(InclusionProofError, match="32 bytes"):
        root_from_inclusion_proof(0, 2, leaf_hash(b""), [b"short"])
    with pytest.raises(InclusionProofError, match="32 bytes"):
        root_from_inclusion_proof(0, 2, b"short", [leaf_hash(b"")])


def test_overlong_proofs_are_refused_before_hashing() -> None:
    with pytest.raises(InclusionProofError, match="at most 64"):
        root_from_inclusion_proof(0, 2**70, leaf_hash(b""), [bytes(32)] * 65)


def test_proofs_against_earlier_sizes_verify_against_earlier_roots() -> None:
    tree = build(20)
    for size in (7, 8, 16, 20):
        proof = tree.inclusion_proof(6, size)
        verify_inclusion(6, size, tree.leaf_hash(6), proof, tree.root_at(size))


def test_bad_sizes_and_indexes_raise_value_error() -> None:
    tree = build(4)
    with pytest.raises(ValueError, match="tree size"):
        tree.root_at(5)
    with pytest.raises(ValueError, match="tree size"):
        tree.inclusion_proof(0, 9)
    with pytest.raises(ValueError, match="outside"):
        tree.inclusion_proof(4)
    with pytest.raises(IndexError):
        tree.leaf_hash(4)


def test_concurrent_appends_keep_the_tree_consistent() -> None:
    tree = MerkleTree()

    def worker(offset: int) -> None:
        for i in range(200):
            tree.append(b"%d-%d" % (offset, i))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tree.size == 800
    hashes = [tree.leaf_hash(i) for i in range(800)]
    assert tree.root() == naive_root(hashes)
