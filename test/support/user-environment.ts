// The variables of the tester's own shell that would change what a test run asks of the network: a
// proxy (loopback servers reached through it), GDAL's HTTP settings, a CA bundle, a netrc file. Tests
// set what they test themselves; the rest is left out, so a run is the same on any machine.
const USER_NETWORK = /^(https?_proxy|all_proxy|no_proxy|netrc|curl_ca_bundle|ssl_cert_file|aws_ca_bundle|gdal_https?_.*|cpl_vsil_curl_.*)$/i

/** `env` without the tester's network settings. */
export function withoutUserNetwork (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !USER_NETWORK.test(name)))
}

/** Takes them out of this process, whose children (test files, runs) inherit it. */
export function dropUserNetwork (): void {
  for (const name of Object.keys(process.env)) if (USER_NETWORK.test(name)) delete process.env[name]
}
