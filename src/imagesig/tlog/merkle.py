"""RFC 6962 Merkle trees: leaf and node hashes, inclusion proofs and their verification.

A transparency log commits to its entries with a Merkle tree whose root hash the log signs
(in a checkpoint). An *inclusion proof* is the list of sibling hashes on the path from one
leaf to the root; recomputing the root from the leaf and the proof shows that the entry is
in the tree of that size. Hashes are SHA-256 with domain separation: ``0x00`` before leaf
data, ``0x01`` before a pair of child hashes, so a leaf can never pass for a node.

:func:`root_from_inclusion_proof` follows the verification algorithm of RFC 9162 §2.1.3.2,
which binds the proof to both the leaf index and the tree size: a proof for one index or
size does not verify for another. :class:`MerkleTree` is an append-only in-memory tree that
produces such proofs (the local Rekor server used in tests is built on it).

Example:
    >>> tree = MerkleTree()
    >>> index = tree.append(b"entry")
    >>> proof = tree.inclusion_proof(index)
    >>> verify_inclusion(index, tree.size, leaf_hash(b"entry"), proof, tree.root())
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

from imagesig.errors import InclusionProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_HASHES",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

MAX_PROOF_HASHES = 64
"""Most hashes an inclusion proof can need: a tree of at most 2**64 leaves is 64 levels deep."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root hash of the empty tree (RFC 6962 §2.1: the hash of the empty string)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 hash of a leaf: ``SHA-256(0x00 || data)``.

    Args:
        data: the leaf's content (for Rekor, the canonical entry body).

    Returns:
        The 32-byte leaf hash.
    """
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 hash of an interior node: ``SHA-256(0x01 || left || right)``.

    Args:
        left: the hash of the left child.
        right: the hash of the right child.

    Returns:
        The 32-byte node hash.
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _fail(message: str, *, index: int, tree_size: int) -> InclusionProofError:
    return InclusionProofError(
        message, check="inclusion-proof", log_index=index, tree_size=tree_size
    )


def root_from_inclusion_proof(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """Recompute the root hash of a tree of ``tree_size`` leaves from one leaf's proof.

    Args:
        index: zero-based position of the leaf in the tree.
        tree_size: number of leaves in the tree the proof is for.
        leaf: the leaf *hash* (see :func:`leaf_hash`).
        proof: the sibling hashes, leaf level first.

    Returns:
        The root hash the proof leads to.

    Raises:
        InclusionProofError: the index is not inside the tree, a hash is not 32 bytes, or
            the proof has too few or too many hashes for that index and size.
    """
    if tree_size < 1 or not 0 <= index < tree_size:
        raise _fail(
            f"leaf index {index} is outside a tree of size {tree_size}",
            index=index,
            tree_size=tree_size,
        )
    if len(proof) > MAX_PROOF_HASHES:
        raise _fail(
            f"inclusion proof has {len(proof)} hashes; at most {MAX_PROOF_HASHES} are possible",
            index=index,
            tree_size=tree_size,
        )
    if len(leaf) != HASH_SIZE or any(len(item) != HASH_SIZE for item in proof):
        raise _fail(
            f"inclusion proof hashes must be {HASH_SIZE} bytes", index=index, tree_size=tree_size
        )
    # RFC 9162 §2.1.3.2: walk up from the leaf; `node` is the leaf's position at the current
    # level and `last` the position of the rightmost node. Where `node` is a right child, or
    # the rightmost node without a sibling, the proof hash goes on the left.
    node, last = index, tree_size - 1
    result = leaf
    for sibling in proof:
        if last == 0:
            raise _fail(
                f"inclusion proof has more hashes than a leaf at index {index} of a tree of "
                f"size {tree_size} needs",
                index=index,
                tree_size=tree_size,
            )
        if node & 1 or node == last:
            result = node_hash(sibling, result)
            # Climb past the levels where this node has no sibling on the right border.
            while not node & 1 and node != 0:
                node >>= 1
                last >>= 1
        else:
            result = node_hash(result, sibling)
        node >>= 1
        last >>= 1
    if last != 0:
        raise _fail(
            f"inclusion proof has fewer hashes than a leaf at index {index} of a tree of "
            f"size {tree_size} needs",
            index=index,
            tree_size=tree_size,
        )
    return result


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` shows the leaf at ``index`` is in the tree with root ``root``.

    Args:
        index: zero-based position of the leaf in the tree.
        tree_size: number of leaves in the tree.
        leaf: the leaf hash (see :func:`leaf_hash`).
        proof: the sibling hashes, leaf level first.
        root: the expected root hash (from a signed checkpoint).

    Raises:
        InclusionProofError: the proof is malformed or leads to another root hash.
    """
    computed = root_from_inclusion_proof(index, tree_size, leaf, proof)
    if computed != root:
        raise InclusionProofError(
            f"inclusion proof for leaf {index} leads to root {computed.hex()}, not to the "
            f"claimed root {root.hex()} of the tree of size {tree_size}",
            check="inclusion-proof",
            log_index=index,
            tree_size=tree_size,
        )


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 6962 Merkle tree held in memory.

    Keeps the hash of every complete (power-of-two, aligned) subtree, so appending, roots of
    any earlier size and inclusion proofs all cost O(log n) hashes. Safe to share between
    threads.

    Examples:
        >>> tree = MerkleTree()
        >>> [tree.append(bytes([i])) for i in range(3)]
        [0, 1, 2]
        >>> len(tree.inclusion_proof(0))
        2
    """

    def __init__(self) -> None:
        # _levels[k][i] is the hash of the complete subtree over leaves [i*2**k, (i+1)*2**k).
        self._levels: list[list[bytes]] = [[]]
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, data: bytes) -> int:
        """Add a leaf holding ``data`` and return its index."""
        with self._lock:
            levels = self._levels
            index = len(levels[0])
            levels[0].append(leaf_hash(data))
            level, position = 0, index
            # Every time the new leaf completes a subtree, record the subtree's hash.
            while position & 1:
                if level + 1 == len(levels):
                    levels.append([])
                pair = levels[level][position - 1 : position + 1]
                levels[level + 1].append(node_hash(pair[0], pair[1]))
                level += 1
                position >>= 1
            return index

    def leaf_hash(self, index: int) -> bytes:
        """Return the leaf hash at ``index``.

        Raises:
            IndexError: there is no leaf at ``index``.
        """
        if not 0 <= index < self.size:
            raise IndexError(f"no leaf at index {index} in a tree of size {self.size}")
        return self._levels[0][index]

    def root(self) -> bytes:
        """Return the root hash of the tree as it is now."""
        with self._lock:
            return self._subtree_hash(0, len(self._levels[0]))

    def root_at(self, size: int) -> bytes:
        """Return the root hash the tree had when it held ``size`` leaves.

        Raises:
            ValueError: ``size`` is negative or larger than the tree.
        """
        with self._lock:
            self._check_size(size)
            return self._subtree_hash(0, size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` in the tree of ``tree_size`` leaves.

        Args:
            index: the leaf.
            tree_size: the size of the tree to prove against (default: the current size).

        Returns:
            The sibling hashes, leaf level first (RFC 6962 §2.1.1 ``PATH``).

        Raises:
            ValueError: the size is larger than the tree, or the index not below the size.
        """
        with self._lock:
            size = len(self._levels[0]) if tree_size is None else tree_size
            self._check_size(size)
            if not 0 <= index < size:
                raise ValueError(f"leaf index {index} is outside a tree of size {size}")
            proof: list[bytes] = []
            self._path(index, 0, size, proof)
            return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self._levels[0]):
            raise ValueError(f"tree size {size} is not between 0 and {len(self._levels[0])}")

    def _subtree_hash(self, start: int, size: int) -> bytes:
        """MTH of leaves [start, start+size); ``start`` is aligned to the subtree's split."""
        if size == 0:
            return EMPTY_ROOT
        if size & (size - 1) == 0 and start % size == 0:
            level = size.bit_length() - 1
            return self._levels[level][start >> level]
        split = _largest_power_of_two_below(size)
        return node_hash(
            self._subtree_hash(start, split), self._subtree_hash(start + split, size - split)
        )

    def _path(self, index: int, start: int, size: int, proof: list[bytes]) -> None:
        """Append PATH(index, D[start:start+size]) to ``proof`` (deepest hash first)."""
        if size <= 1:
            return
        split = _largest_power_of_two_below(size)
        if index < split:
            self._path(index, start, split, proof)
            proof.append(self._subtree_hash(start + split, size - split))
        else:
            self._path(index - split, start + split, size - split, proof)
            proof.append(self._subtree_hash(start, split))
