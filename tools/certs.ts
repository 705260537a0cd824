/**
 * Throw-away certificates for the TLS tests and the bench, made with `openssl` at test time,
 * removed when the process ends, and never committed: a CA, and leaves it signs for `localhost`,
 * `127.0.0.1` and `::1` (one good, one expired, one for another name), each with `CA:FALSE`,
 * which Deno wants of a leaf.
 *
 * @module
 */

/** Paths of the PEM files, and the CA as text for clients made in a test. */
export interface Certs {
  dir: string;
  ca: string;
  caPem: string;
  cert: string;
  key: string;
  expired: string;
  expiredKey: string;
  otherName: string;
  otherNameKey: string;
  /** A CA of its own, that nobody here trusts, and a leaf it signed. */
  strangerCert: string;
  strangerKey: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", { args, cwd: dir }).output();
  if (code !== 0) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(stderr)}`);
}

async function ca(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    ..."req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2".split(" "),
    ...["-keyout", `${name}.key`, "-out", `${name}.pem`, "-subj", `/CN=ts-deno ${name}`],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
  );
}

async function leaf(dir: string, name: string, signer: string, days: number, sans: string) {
  await Deno.writeTextFile(
    `${dir}/${name}.ext`,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      `extendedKeyUsage=serverAuth\nsubjectAltName=${sans}\n`,
  );
  await openssl(
    dir,
    ..."req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes".split(" "),
    ...["-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/CN=localhost"],
  );
  await openssl(
    dir,
    ...["x509", "-req", "-in", `${name}.csr`, "-CA", `${signer}.pem`, "-CAkey", `${signer}.key`],
    ...["-CAcreateserial", "-days", String(days), "-extfile", `${name}.ext`, "-out", `${name}.pem`],
  );
}

let made: Promise<Certs> | undefined;

/** Makes the certificates once per test run, in a temporary folder. */
export function certs(): Promise<Certs> {
  return made ??= (async () => {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "ts-deno-certs-" });
    // Throw-away keys are still private keys: gone when the process ends (`deno test` too sends
    // `unload`, at the end of each test file, whether its tests passed or not).
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // removed already
      }
    });
    const local = "DNS:localhost,IP:127.0.0.1,IP:::1";
    await ca(dir, "ca");
    await ca(dir, "stranger-ca");
    await leaf(dir, "leaf", "ca", 2, local);
    await leaf(dir, "expired", "ca", -1, local);
    await leaf(dir, "other", "ca", 2, "DNS:other.test");
    await leaf(dir, "stranger", "stranger-ca", 2, local);
    const path = (name: string) => `${dir}/${name}`;
    return {
      dir,
      ca: path("ca.pem"),
      caPem: await Deno.readTextFile(path("ca.pem")),
      cert: path("leaf.pem"),
      key: path("leaf.key"),
      expired: path("expired.pem"),
      expiredKey: path("expired.key"),
      otherName: path("other.pem"),
      otherNameKey: path("other.key"),
      strangerCert: path("stranger.pem"),
      strangerKey: path("stranger.key"),
    };
  })();
}
