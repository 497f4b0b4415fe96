"""The OCI layer: data model, the ``Store`` protocol, registry and OCI-layout stores.

This package knows nothing about signatures. Import the pieces from their modules
(:mod:`imagesig.oci.model`, :mod:`imagesig.oci.store`, :mod:`imagesig.oci.registry`,
:mod:`imagesig.oci.layout`, :mod:`imagesig.oci.auth`, :mod:`imagesig.oci.credentials`).
"""
