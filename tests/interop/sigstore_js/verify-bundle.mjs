// Verify a Sigstore bundle attached to an image with @sigstore/verify and a public key.
//
// Request (JSON on stdin):
//   bundle      the bundle (parsed JSON, as read from the registry)
//   publicKey   PEM (SPKI) of the key that should have signed it
//   digest      "sha256:<hex>" of the image the bundle must be about
//   artifact    message-signature bundles: base64 of the signed bytes (the image manifest)
//   tlog        optional {"publicKey": PEM, "baseURL": URL}: require one log entry from this
//               log (inclusion proof and promise checked by sigstore-js); without it no log
//               entry, timestamp or SCT is required
//
// The trust material holds only the key, under the hint imagesig and cosign write (base64 of
// the SHA-256 of the DER SPKI). sigstore-js checks the signature, the key and, when there is
// one, the log entry. With no log entry it never compares the bundle's content with the image,
// so this script does that itself: the in-toto statement must name the digest (DSSE), or the
// messageDigest must equal it and the signed bytes must hash to it (message signature).
//
// Reply (JSON on stdout): {"verified": true, ...} or {"verified": false, "stage": ..., "code": ...,
// "error": ...} where stage is "sigstore" (@sigstore/verify refused it) or "content" (it passed
// there, but does not name the image). A bundle that does not parse exits with status 2.
import { createHash, createPublicKey } from 'node:crypto';

import { bundleFromJSON } from '@sigstore/bundle';
import { PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

import { IN_TOTO_PAYLOAD_TYPE, keyHint, readRequest, reply, run } from './common.mjs';

// A trusted root (its JSON form) with no authorities, or with one transparency log.
function trustedRoot(tlog) {
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  if (tlog) {
    const der = createPublicKey(tlog.publicKey).export({ type: 'spki', format: 'der' });
    root.tlogs.push({
      baseUrl: tlog.baseURL,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: der.toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start: '1970-01-01T00:00:00Z' },
      },
      logId: { keyId: createHash('sha256').update(der).digest('base64') },
    });
  }
  return TrustedRoot.fromJSON(root);
}

class ContentError extends Error {
  code = 'CONTENT_ERROR';
}

function checkContent(bundle, digest, artifact) {
  const [algorithm, hex] = digest.split(':');
  if (algorithm !== 'sha256') {
    throw new ContentError(`unsupported digest ${digest}`);
  }
  if (bundle.content.$case === 'dsseEnvelope') {
    const envelope = bundle.content.dsseEnvelope;
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      throw new ContentError(`payloadType ${envelope.payloadType}`);
    }
    const statement = JSON.parse(envelope.payload.toString('utf8'));
    const names = (statement.subject ?? []).map((subject) => subject.digest?.sha256);
    if (!names.includes(hex)) {
      throw new ContentError(`the statement names ${names.join(', ')}, not ${hex}`);
    }
    return;
  }
  const message = bundle.content.messageSignature;
  const claimed = Buffer.from(message.messageDigest.digest).toString('hex');
  if (claimed !== hex) {
    throw new ContentError(`messageDigest is ${claimed}, not ${hex}`);
  }
  const actual = createHash('sha256').update(artifact).digest('hex');
  if (actual !== hex) {
    throw new ContentError(`the signed bytes hash to ${actual}, not ${hex}`);
  }
}

run(async () => {
  const request = await readRequest();
  const key = createPublicKey(request.publicKey);
  const der = key.export({ type: 'spki', format: 'der' });
  const keys = {
    [keyHint(key)]: { rawBytes: der, keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256 },
  };
  const artifact = request.artifact ? Buffer.from(request.artifact, 'base64') : undefined;
  const required = request.tlog ? 1 : 0;
  const verifier = new Verifier(toTrustMaterial(trustedRoot(request.tlog), keys), {
    tlogThreshold: required,
    timestampThreshold: required,
    ctlogThreshold: 0,
  });
  const bundle = bundleFromJSON(request.bundle);
  try {
    verifier.verify(toSignedEntity(bundle, artifact));
  } catch (error) {
    reply({ verified: false, stage: 'sigstore', code: error.code ?? error.name, error: error.message });
    return;
  }
  try {
    checkContent(bundle, request.digest, artifact);
  } catch (error) {
    reply({ verified: false, stage: 'content', code: error.code, error: error.message });
    return;
  }
  reply({ verified: true, mediaType: bundle.mediaType, content: bundle.content.$case });
});
