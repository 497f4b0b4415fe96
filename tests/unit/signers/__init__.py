"""Tests for :mod:`imagesig.signers` (a package so its module names cannot clash with others)."""
