// The `helm test` check (templates/tests/test-peers.yaml), run with `node -e`: GET /peers through the
// release's Service until the answering pod lists every replica, is not stale and is listed in DNS.
const url = process.env.MIROIR_TEST_URL
const replicas = Number(process.env.MIROIR_TEST_REPLICAS)
const deadline = Date.now() + Number(process.env.MIROIR_TEST_TIMEOUT_SECONDS) * 1000
const check = async () => {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
  if (!response.ok) return `HTTP ${response.status}`
  const body = await response.json()
  if (body.peers.length !== replicas) return `${body.peers.length} peers, expected ${replicas}`
  if (body.stale) return "stale: lookups fail, the pod works from its last known peers"
  if (!body.selfInDns) return "the pod is not listed in DNS"
  return `ok: ${body.peers.length} peers, digest ${body.digest}`
}
const attempt = async () => {
  const outcome = await check().catch((error) => `${error.cause?.code ?? error.name}: ${error.message}`)
  if (outcome.startsWith("ok")) {
    console.log(`${url}: ${outcome}`)
    process.exit(0)
  }
  if (Date.now() > deadline) {
    console.error(`${url}: ${outcome}`)
    process.exit(1)
  }
  setTimeout(attempt, 2000)
}
attempt()
