// Helpers shared by the interop scripts: JSON in on stdin, JSON out on stdout.
import { createHash } from 'node:crypto';

export async function readRequest() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export function reply(document) {
  process.stdout.write(JSON.stringify(document));
  process.stdout.write('\n');
}

// Fail loudly on anything the test did not expect: a message on stderr, exit status 2.
export function run(main) {
  main().catch((error) => {
    const cause = error && error.cause ? ` (cause: ${error.cause.message ?? error.cause})` : '';
    process.stderr.write(`${error && error.stack ? error.stack : error}${cause}\n`);
    process.exit(2);
  });
}

// The key hint imagesig and cosign write: standard base64 of the SHA-256 of the DER SPKI.
export function keyHint(publicKey) {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
