"""cosign-compatible signature formats, on top of :mod:`imagesig.oci` and :mod:`imagesig.signers`.

The format modules are pure (no I/O) and strict about what they read:

* :mod:`imagesig.signatures.simplesigning` — the payload a tag-based (``.sig``) signature
  signs;
* :mod:`imagesig.signatures.dsse` — DSSE envelopes and their pre-authentication encoding;
* :mod:`imagesig.signatures.intoto` — in-toto statements and cosign's predicate-type names;
* :mod:`imagesig.signatures.bundle` — Sigstore bundles (v0.1 to v0.3).

Every parser keeps the exact bytes it read (``raw``): signatures and transparency-log hashes
are always checked over those bytes, never over a re-serialisation.
"""
