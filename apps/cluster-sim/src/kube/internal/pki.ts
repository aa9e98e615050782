/**
 * The certificates and keys of the local control plane, made with the openssl command as kubeadm's
 * "certs" phase would: a cluster CA, the API server's serving certificate for 127.0.0.1 and the
 * in-cluster names, an admin client certificate (group system:masters), and the service-account
 * signing key pair. Everything lives in one temporary folder and only serves loopback.
 */
import { execFile } from "node:child_process"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

/** Paths of the files {@link makePki} wrote. */
export interface Pki {
  readonly caCert: string
  readonly caKey: string
  readonly servingCert: string
  readonly servingKey: string
  readonly adminCert: string
  readonly adminKey: string
  /** Service-account token signing: private key (API server and controller-manager) and public key. */
  readonly serviceAccountKey: string
  readonly serviceAccountPub: string
}

const openssl = async (args: ReadonlyArray<string>): Promise<void> => {
  try {
    await run("openssl", [...args])
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ""
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)} (install Debian's openssl)`)
  }
}

/** An ECDSA P-256 key: made in a fraction of the time of an RSA key (0.17 s against 2.7 s here). */
const newKey = (file: string) =>
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file])

/** Signs a certificate for `subject` with the CA, with the extensions in `extensions` (openssl syntax). */
const signed = async (
  folder: string,
  name: string,
  subject: string,
  extensions: string,
  pki: { caCert: string; caKey: string }
) => {
  const key = join(folder, `${name}.key`)
  const csr = join(folder, `${name}.csr`)
  const cert = join(folder, `${name}.crt`)
  const ext = join(folder, `${name}.ext`)
  await writeFile(ext, extensions)
  await newKey(key)
  await openssl(["req", "-new", "-key", key, "-subj", subject, "-out", csr])
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    cert,
    "-extfile",
    ext
  ])
  return { cert, key }
}

/**
 * A client certificate signed by the cluster CA, for `/O=<group>/CN=<user>` (a kubelet's is
 * `/O=system:nodes/CN=system:node:<node name>`, which the Node authorizer recognises).
 */
export const makeClientCert = (
  folder: string,
  name: string,
  subject: string,
  pki: Pick<Pki, "caCert" | "caKey">
): Promise<{ readonly cert: string; readonly key: string }> =>
  signed(
    folder,
    name,
    subject,
    ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth", ""].join("\n"),
    pki
  )

/** Makes the control plane's certificates and keys in `folder`. */
export const makePki = async (folder: string): Promise<Pki> => {
  const caKey = join(folder, "ca.key")
  const caCert = join(folder, "ca.crt")
  await newKey(caKey)
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    caKey,
    "-subj",
    "/CN=miroir-local-ca",
    "-days",
    "2",
    "-out",
    caCert,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
  ])
  const ca = { caCert, caKey }
  const serving = await signed(
    folder,
    "apiserver",
    "/CN=kube-apiserver",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
      ""
    ].join("\n"),
    ca
  )
  const admin = await signed(
    folder,
    "admin",
    "/O=system:masters/CN=kubernetes-admin",
    ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth", ""].join("\n"),
    ca
  )
  const serviceAccountKey = join(folder, "sa.key")
  const serviceAccountPub = join(folder, "sa.pub")
  await newKey(serviceAccountKey)
  await openssl(["pkey", "-in", serviceAccountKey, "-pubout", "-out", serviceAccountPub])
  return {
    caCert,
    caKey,
    servingCert: serving.cert,
    servingKey: serving.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    serviceAccountKey,
    serviceAccountPub
  }
}
