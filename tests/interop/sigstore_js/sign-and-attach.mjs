// Sign an image digest with sigstore-js and a plain ECDSA P-256 key, then attach the bundle to
// the image as an OCI referrer with @sigstore/oci.
//
// Request (JSON on stdin):
//   image            "<registry>/<repository>" (a loopback registry: @sigstore/oci talks plain
//                    HTTP to 127.0.0.1 and localhost)
//   digest           "sha256:<hex>" of the image manifest to attach to
//   privateKey       PKCS#8 PEM of the P-256 signing key
//   content          "dsse"         an in-toto statement in a DSSE envelope (bundle v0.3)
//                    "message"      a message signature over `message` (bundle v0.3)
//                    "message-v0.2" the same through MessageSignatureBundleBuilder, which
//                                   always produces a v0.2 bundle
//   subjectDigest    dsse: the digest the statement names (default: digest)
//   annotations      dsse: annotations on the statement's subject (optional)
//   message          message*: base64 of the bytes to sign (the image manifest)
//   messageDigest    message: hex written as messageDigest instead of the real one (optional)
//   rekorURL         log the signature in this Rekor (RekorWitness, dsse entries); default none
//
// Reply (JSON on stdout): {"referrer": <descriptor @sigstore/oci returned>, "bundle": <JSON>}
import { createHash, createPrivateKey, createPublicKey, sign as signBytes } from 'node:crypto';

import { attachArtifactToImage } from '@sigstore/oci';
import {
  DSSEBundleBuilder,
  MessageSignatureBundleBuilder,
  RekorWitness,
} from '@sigstore/sign';
import { bundleToJSON, toMessageSignatureBundle } from '@sigstore/bundle';

import {
  IN_TOTO_PAYLOAD_TYPE,
  SIGN_PREDICATE_TYPE,
  keyHint,
  readRequest,
  reply,
  run,
} from './common.mjs';

function keySigner(privateKeyPem) {
  const privateKey = createPrivateKey(privateKeyPem);
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' });
  const hint = keyHint(publicKey);
  return {
    hint,
    // The Signer interface @sigstore/sign expects: DER ECDSA signature plus the key material.
    async sign(data) {
      return {
        signature: signBytes('sha256', data, privateKey),
        key: { $case: 'publicKey', publicKey: publicKeyPem, hint },
      };
    },
  };
}

function statement(request) {
  const subject = { digest: { sha256: (request.subjectDigest ?? request.digest).split(':')[1] } };
  if (request.annotations) {
    subject.annotations = request.annotations;
  }
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [subject],
    predicateType: SIGN_PREDICATE_TYPE,
    predicate: {},
  };
}

async function buildBundle(request, signer) {
  const witnesses = request.rekorURL
    ? [new RekorWitness({ rekorBaseURL: request.rekorURL, entryType: 'dsse' })]
    : [];
  switch (request.content) {
    case 'dsse': {
      const builder = new DSSEBundleBuilder({ signer, witnesses });
      const data = Buffer.from(JSON.stringify(statement(request)));
      return builder.create({ data, type: IN_TOTO_PAYLOAD_TYPE });
    }
    case 'message-v0.2': {
      const builder = new MessageSignatureBundleBuilder({ signer, witnesses });
      return builder.create({ data: Buffer.from(request.message, 'base64') });
    }
    case 'message': {
      // MessageSignatureBundleBuilder always asks for a v0.2 bundle; build the v0.3 form with
      // @sigstore/bundle from a signature made by the same signer.
      const data = Buffer.from(request.message, 'base64');
      const signature = await signer.sign(data);
      const digest = request.messageDigest
        ? Buffer.from(request.messageDigest, 'hex')
        : createHash('sha256').update(data).digest();
      return toMessageSignatureBundle({
        digest,
        signature: signature.signature,
        keyHint: signer.hint,
        certificateChain: false,
      });
    }
    default:
      throw new Error(`unknown content ${request.content}`);
  }
}

run(async () => {
  const request = await readRequest();
  const signer = keySigner(request.privateKey);
  const bundle = await buildBundle(request, signer);
  const json = bundleToJSON(bundle);
  const annotations = {
    'dev.sigstore.bundle.content':
      bundle.content.$case === 'dsseEnvelope' ? 'dsse-envelope' : 'message-signature',
  };
  if (bundle.content.$case === 'dsseEnvelope') {
    annotations['dev.sigstore.bundle.predicateType'] = SIGN_PREDICATE_TYPE;
  }
  const referrer = await attachArtifactToImage({
    imageName: request.image,
    imageDigest: request.digest,
    artifact: Buffer.from(JSON.stringify(json)),
    mediaType: bundle.mediaType,
    annotations,
    credentials: undefined,
  });
  reply({ referrer, bundle: json });
});
